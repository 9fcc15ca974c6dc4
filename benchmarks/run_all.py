"""Runs every benchmark and prints a summary: `make bench` (= .venv/bin/python benchmarks/run_all.py).

1. The bundled mock (`python -m mock_idp`, its own process): start → discovery, token
   exchanges per second, complete login flows per second at 1, 16 and 64 clients, memory.
2. The same flows against oidc-provider-mock from PyPI, installed on first use into a
   virtual environment of its own under ~/.cache (skipped, with a message, if it cannot be
   installed); then the ratio of each figure.
3. benchmarks/abandoned_logins.py: the bundled mock's memory and exchange log after 23,000
   logins nobody finished, 3,000 of them with a 60 KB nonce (skip with --skip-abandoned).
4. benchmarks/room.py: a room mock (`python -m mock_idp --room`) with 200 learners joining and
   running the notebooks' requests at a classroom's pace: latency, errors, the room's CPU per
   login and peak memory (skip with --skip-room).
5. benchmarks/notebooks.py: re-executing every notebook (skip with --skip-notebooks).

The figures are printed, never asserted: they depend on the machine and on what else runs on
it (the load average is printed with them). benchmarks/README.md records a run.

    python benchmarks/run_all.py [--skip-peer] [--skip-abandoned] [--skip-room] [--skip-notebooks]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from abandoned_logins import measure_abandoned  # noqa: E402
from measure import EXCHANGE_CLIENTS, FLOW_LEVELS, measure, rsa_signatures_per_second  # noqa: E402
from providers import BundledMock, install_peer  # noqa: E402
from room import run_room  # noqa: E402


def machine() -> str:
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores {model}".strip() + f", Python {platform.python_version()}, {platform.system()}"


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


ROWS: list[tuple[str, str, str, str]] = [
    # key, label, unit format, which way is better
    ("start_s", "start → discovery answering (median of 5)", "{:.3f} s", "lower"),
    *[(f"exchanges_{c}", f"token exchanges/s, {c} client(s)", "{:.1f}", "higher") for c in EXCHANGE_CLIENTS],
    *[(f"exchange_cpu_ms_{c}", f"  server CPU per exchange, {c} client(s)", "{:.2f} ms", "lower") for c in EXCHANGE_CLIENTS],
    *[(f"flows_{c}", f"login flows/s, {c} client(s)", "{:.1f}", "higher") for c in FLOW_LEVELS],
    *[(f"flow_cpu_ms_{c}", f"  server CPU per flow, {c} client(s)", "{:.2f} ms", "lower") for c in FLOW_LEVELS],
    ("rss_start_kib", "memory at start (RSS)", "{:.1f} MiB", "lower"),
    ("rss_peak_kib", "peak memory after the runs (VmHWM)", "{:.1f} MiB", "lower"),
]


def shown(key: str, fmt: str, value: float) -> str:
    return fmt.format(value / 1024 if key.endswith("_kib") else value)


def summary(ours: dict[str, Any], peer: dict[str, Any] | None) -> None:
    print("\nSummary")
    header = f"  {'':44} {ours['name']:>14}"
    if peer:
        header += f" {peer['name']:>26} {'ratio':>8}  better"
    print(header)
    for key, label, fmt, better in ROWS:
        line = f"  {label:44} {shown(key, fmt, ours[key]):>14}"
        if peer:
            ratio = ours[key] / peer[key] if peer[key] else float("nan")
            line += f" {shown(key, fmt, peer[key]):>26} {ratio:7.2f}x  {better}"
        print(line)
    if peer:
        print("  ratio = bundled mock ÷ oidc-provider-mock: above 1 is better where higher is better.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-peer", action="store_true", help="do not install or run oidc-provider-mock")
    parser.add_argument("--skip-abandoned", action="store_true", help="do not measure the memory of abandoned logins")
    parser.add_argument("--skip-room", action="store_true", help="do not run the room benchmark (200 learners)")
    parser.add_argument("--skip-notebooks", action="store_true", help="do not re-execute the notebooks")
    args = parser.parse_args(argv)

    print(f"Benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}; {machine()}; load average {load()}")
    rsa = rsa_signatures_per_second()
    print(f"RSA-2048 signatures/s on one core: {rsa:.0f} (a token response needs two: at most "
          f"{rsa / 2:.0f} exchanges/s per core)\n")

    print("bundled mock (python -m mock_idp, its own process):", flush=True)
    ours = measure(BundledMock, "bundled mock")

    peer_figures = None
    if not args.skip_peer:
        peer = install_peer()
        if peer is not None:
            label = f"oidc-provider-mock {peer.version}"
            print(f"\n{label} (python -m oidc_provider_mock, its own process):", flush=True)
            try:
                peer_figures = measure(lambda: type(peer)(peer.python, peer.version), label)
            except RuntimeError as exc:
                print(f"  oidc-provider-mock failed: {exc}; no ratio")

    summary(ours, peer_figures)
    print(f"  load average at the end: {load()}")

    if not args.skip_abandoned:
        print("\nAbandoned logins (benchmarks/abandoned_logins.py), the bundled mock:", flush=True)
        measure_abandoned()

    if not args.skip_room:
        print("\nA room of 200 learners (benchmarks/room.py; --compare-plain there compares plain uvicorn):", flush=True)
        run_room(200, ramp=10.0, think=1.0, plain=False, seed=1)

    status = 0
    if not args.skip_notebooks:
        print("\nNotebooks (benchmarks/notebooks.py):", flush=True)
        status = subprocess.run([sys.executable, str(HERE / "notebooks.py")]).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
