"""How much memory the mock keeps for logins nobody finishes.

The mock runs as its own process (`python -m mock_idp`, as in measure.py). After a warm-up
(a few complete flows, so every code path has run once), this sends:

1. 3,000 authorization requests each carrying a 60 KB `nonce`, as POSTed forms (OIDC Core
   §3.1.2.1 allows POST; uvicorn's HTTP parser, h11, may refuse a GET head over 16 KiB
   that arrives in pieces); the mock refuses each with a 400 and keeps none of it;
2. 20,000 plain authorization requests (GET, normal parameters) whose login is never
   finished: each leaves a pending login behind, until it expires or the cap drops it.

Then it prints the growth of the server's resident set (RSS) over the warm-up's, its peak,
and the size in bytes of `GET /_mock/exchanges` (the teaching log, 1,000 entries) after each
phase, and after two more:

3. 1,000 token requests each carrying a 60 KB parameter (refused, but logged with their
   parameters: the refused authorization requests of phase 1 are logged without theirs);
4. 1,000 POSTed authorization requests each carrying 20 parameters of 150 control, emoji and
   CJK characters: in the JSON answer a control character is written `\u0001` (6 bytes) and
   an emoji takes 4 bytes, so this is the log's worst case per character sent.

Targets: RSS growth under 100 MiB, the log under 5 MB. Printed, never asserted.

Everything is on 127.0.0.1 and every loop is bounded.

    python benchmarks/abandoned_logins.py
"""

from __future__ import annotations

import collections
import functools
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from providers import TIMEOUT, BundledMock  # noqa: E402

LARGE_REQUESTS = 3_000
LARGE_NONCE = 60_000  # characters
PLAIN_REQUESTS = 20_000
LOGGED_REQUESTS = 1_000  # as many as the log keeps
WIDE_VALUE = "\x01\U0001F600\u6f22" * 50  # control, emoji, CJK: 6, 4 and 3 bytes each in the log's JSON
WIDE_PARAMETERS = 20
CLIENTS = 4  # threads, each with its own connection
WARM_UP_FLOWS = 20
RSS_GROWTH_TARGET_MIB = 100
EXCHANGES_TARGET_BYTES = 5_000_000


def in_threads(total: int, send: Callable[[requests.Session], int]) -> tuple[collections.Counter[int], float]:
    """`total` requests shared by CLIENTS threads; returns the statuses seen and the seconds."""
    statuses: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(count: int) -> None:
        seen: collections.Counter[int] = collections.Counter()
        try:
            with requests.Session() as http:
                for _ in range(count):
                    seen[send(http)] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
        with lock:
            statuses.update(seen)

    shares = [total // CLIENTS + (1 if i < total % CLIENTS else 0) for i in range(CLIENTS)]
    threads = [threading.Thread(target=worker, args=(share,), daemon=True) for share in shares]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=1800)
    if errors:
        raise errors[0]
    return statuses, time.perf_counter() - began


def form_post(http: requests.Session, url: str, body: str) -> int:
    return http.post(url, data=body, allow_redirects=False, timeout=TIMEOUT,
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code


def measure_abandoned(log: Callable[[str], None] = functools.partial(print, flush=True)) -> dict[str, Any]:
    """Runs the whole benchmark against a fresh mock process; prints as it goes."""
    provider = BundledMock()
    provider.start()
    try:
        figures: dict[str, Any] = {"rss_start_kib": provider.memory_kib()["VmRSS"]}
        with requests.Session() as browser:
            for _ in range(WARM_UP_FLOWS):
                provider.flow(browser)
        figures["rss_warm_kib"] = provider.memory_kib()["VmRSS"]
        log(f"  RSS at start {figures['rss_start_kib'] / 1024:.1f} MiB, "
            f"after {WARM_UP_FLOWS} complete flows {figures['rss_warm_kib'] / 1024:.1f} MiB")

        def phase(name: str, label: str, count: int, send: Callable[[requests.Session], int]) -> None:
            """`count` requests; then the server's RSS and the exchange log's size."""
            statuses, seconds = in_threads(count, send)
            listing = requests.get(provider.url + "/_mock/exchanges", timeout=TIMEOUT)
            figures[f"rss_after_{name}_kib"] = rss = provider.memory_kib()["VmRSS"]
            figures[f"exchanges_after_{name}_bytes"] = size = len(listing.content)
            log(f"  {count:,} {label}: statuses {dict(statuses)}, {seconds:.1f} s ({count / seconds:.0f}/s); "
                f"RSS {rss / 1024:.1f} MiB; GET /_mock/exchanges {size:,} bytes, "
                f"{len(listing.json()['exchanges'])} entries")

        authorize = provider.metadata["authorization_endpoint"]
        params, _ = provider.authorize_params()
        large = urllib.parse.urlencode({**params, "nonce": "n" * LARGE_NONCE})
        phase("large", f"POSTed authorization requests with a {LARGE_NONCE:,}-character nonce", LARGE_REQUESTS,
              lambda http: form_post(http, authorize, large))
        phase("plain", "plain authorization requests (GET), never logged in", PLAIN_REQUESTS,
              lambda http: http.get(authorize, params=provider.authorize_params()[0], allow_redirects=False,
                                    timeout=TIMEOUT).status_code)
        padded = urllib.parse.urlencode({"grant_type": "authorization_code", "code": "none", "client_id": "mock-client",
                                         "client_secret": "mock-secret", "x_padding": "p" * LARGE_NONCE})
        phase("logged", f"token requests with a {LARGE_NONCE:,}-character parameter", LOGGED_REQUESTS,
              lambda http: form_post(http, provider.metadata["token_endpoint"], padded))
        wide = urllib.parse.urlencode({**params, **{f"p{i}": WIDE_VALUE for i in range(WIDE_PARAMETERS)}})
        phase("wide", f"POSTed authorization requests with {WIDE_PARAMETERS} parameters of control, emoji and "
              "CJK characters", LOGGED_REQUESTS, lambda http: form_post(http, authorize, wide))

        figures["rss_peak_kib"] = provider.memory_kib()["VmHWM"]
        figures["rss_growth_kib"] = figures["rss_after_wide_kib"] - figures["rss_warm_kib"]
        figures["exchanges_max_bytes"] = max(figures[f"exchanges_after_{name}_bytes"]
                                             for name in ("large", "plain", "logged", "wide"))
        growth_mib = figures["rss_growth_kib"] / 1024
        log(f"  RSS growth over the warm-up: {growth_mib:.1f} MiB, peak {figures['rss_peak_kib'] / 1024:.1f} MiB "
            f"(target < {RSS_GROWTH_TARGET_MIB} MiB growth: {'met' if growth_mib < RSS_GROWTH_TARGET_MIB else 'MISSED'})")
        log(f"  GET /_mock/exchanges, the largest of the four: {figures['exchanges_max_bytes']:,} bytes "
            f"(target < {EXCHANGES_TARGET_BYTES:,}: "
            f"{'met' if figures['exchanges_max_bytes'] < EXCHANGES_TARGET_BYTES else 'MISSED'})")
        return figures
    finally:
        provider.stop()


if __name__ == "__main__":
    print("Abandoned logins against the bundled mock (python -m mock_idp, its own process):", flush=True)
    measure_abandoned()
