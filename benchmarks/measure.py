"""What the benchmarks measure, for one authorization server running as its own process:

- start: seconds from process start to discovery answering (a few fresh processes);
- token exchanges per second: codes made first through real logins, then only the
  exchanges are timed (one client, then several at once);
- complete login flows per second (authorize → login form → code → token → userinfo) with
  1, 16 and 64 clients at once, each a thread with a requests.Session of its own, each flow
  a new visitor (no single sign-on);
- the server's CPU use during each run, and its memory (peak RSS) after them all.

Every loop is bounded (a fixed number of requests) and everything is on 127.0.0.1.

    python benchmarks/measure.py            # the bundled mock only
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from providers import BundledMock, Provider  # noqa: E402


@dataclass
class Run:
    """A timed batch of operations."""

    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    server_cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def server_busy(self) -> float:
        """The server's CPU time over wall time: 1.0 = one core busy the whole run."""
        return self.server_cpu_seconds / self.seconds

    @property
    def server_cpu_ms_each(self) -> float:
        """The server's CPU time per operation: what the server itself spends, whoever waits."""
        return 1000 * self.server_cpu_seconds / self.count

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def in_threads(provider: Provider, clients: int, work: Callable[[int, requests.Session], list[float]]) -> Run:
    """Runs work(i, session) in `clients` threads started together; times the whole."""
    results: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    ready = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        with requests.Session() as session:
            try:
                ready.wait()
                results[i] = work(i, session)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = provider.cpu_seconds()
    ready.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(timeout=600)
    seconds = time.perf_counter() - began
    if errors:
        raise errors[0]
    latencies = [t for result in results for t in result]
    return Run(len(latencies), seconds, latencies, provider.cpu_seconds() - cpu_before)


def startup(make: Callable[[], Provider], times: int = 5) -> list[float]:
    seconds = []
    for _ in range(times):
        provider = make()
        try:
            seconds.append(provider.start())
        finally:
            provider.stop()
    return seconds


def token_exchanges(provider: Provider, count: int, clients: int) -> Run:
    """Codes first (real logins, untimed), then `count` exchanges shared by `clients` threads."""
    codes: list[tuple[str, str]] = []
    with requests.Session() as browser:
        for _ in range(count):
            codes.append(provider.login(browser))
    share = [codes[i::clients] for i in range(clients)]

    def exchange_all(i: int, http: requests.Session) -> list[float]:
        latencies = []
        for code, verifier in share[i]:
            began = time.perf_counter()
            provider.exchange(http, code, verifier)
            latencies.append(time.perf_counter() - began)
        return latencies

    return in_threads(provider, clients, exchange_all)


def login_flows(provider: Provider, clients: int, flows_per_client: int) -> Run:
    def flows(i: int, browser: requests.Session) -> list[float]:
        latencies = []
        for _ in range(flows_per_client):
            began = time.perf_counter()
            provider.flow(browser)
            latencies.append(time.perf_counter() - began)
        return latencies

    provider.flow(requests.Session())  # warm: every code path has run once
    return in_threads(provider, clients, flows)


# Bounded work: about 10-30 s per server on 2 cores.
EXCHANGES = 300
EXCHANGE_CLIENTS = (1, 8)
FLOW_LEVELS = {1: 60, 16: 8, 64: 4}  # clients: flows each


def measure(make: Callable[[], Provider], label: str) -> dict[str, Any]:
    """Everything for one server; prints as it goes, returns the figures."""
    figures: dict[str, Any] = {"name": label}
    starts = startup(make)
    figures["start_s"] = statistics.median(starts)
    print(f"  start → discovery: median {statistics.median(starts):.3f} s "
          f"(min {min(starts):.3f}, max {max(starts):.3f}, {len(starts)} starts)", flush=True)

    provider = make()
    provider.start()
    try:
        figures["rss_start_kib"] = provider.memory_kib()["VmRSS"]
        for clients in EXCHANGE_CLIENTS:
            run = token_exchanges(provider, EXCHANGES, clients)
            figures[f"exchanges_{clients}"] = run.per_second
            figures[f"exchange_cpu_ms_{clients}"] = run.server_cpu_ms_each
            print(f"  token exchanges, {clients:2} client(s): {run.per_second:7.1f}/s  "
                  f"p50 {run.percentile_ms(0.5):6.1f} ms  p95 {run.percentile_ms(0.95):6.1f} ms  "
                  f"server: {run.server_busy:4.0%} of a core, {run.server_cpu_ms_each:.2f} ms CPU each", flush=True)
        for clients, each in FLOW_LEVELS.items():
            run = login_flows(provider, clients, each)
            figures[f"flows_{clients}"] = run.per_second
            figures[f"flow_cpu_ms_{clients}"] = run.server_cpu_ms_each
            print(f"  login flows, {clients:2} client(s) x {each:2}: {run.per_second:7.1f}/s  "
                  f"p50 {run.percentile_ms(0.5):6.1f} ms  p95 {run.percentile_ms(0.95):6.1f} ms  "
                  f"server: {run.server_busy:4.0%} of a core, {run.server_cpu_ms_each:.2f} ms CPU each", flush=True)
        memory = provider.memory_kib()
        figures["rss_end_kib"], figures["rss_peak_kib"] = memory["VmRSS"], memory["VmHWM"]
        print(f"  memory: RSS {figures['rss_start_kib'] / 1024:.1f} MiB at start, "
              f"{memory['VmRSS'] / 1024:.1f} MiB after, peak {memory['VmHWM'] / 1024:.1f} MiB", flush=True)
    finally:
        provider.stop()
    return figures


def rsa_signatures_per_second(seconds: float = 1.0) -> float:
    """The floor of a token response's cost: RSA-2048 PKCS#1 v1.5 signatures on one core."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        key.sign(b"header.payload" * 40, padding.PKCS1v15(), hashes.SHA256())
        count += 1
    return count / (time.perf_counter() - began)


if __name__ == "__main__":
    print(f"RSA-2048 signatures/s on one core: {rsa_signatures_per_second():.0f}")
    print("bundled mock (python -m mock_idp):")
    measure(BundledMock, "bundled mock")
