"""A classroom against one room mock: N learners join and run the notebooks' requests at once.

The room runs as its own process, as an instructor runs it (`python -m mock_idp --room --host
127.0.0.1 --port P`); this script reads the issuer and the dashboard's address it prints. Each
learner is a thread (of this process, or of `--client-processes` processes) that, like a learner
working through the notebooks:

1. joins (`POST /join`, `Accept: application/json`): their client id and secret, email, password;
2. checks the room knows them (`GET /_mock/clock`, HTTP Basic with the client's credentials: the
   kit's `connect()` in notebook 01);
3. fetches discovery and the JWKS (notebooks 02 and 05);
4. logs in in a browser (`mock_idp.browser.Browser`: authorize with state, nonce and PKCE, the
   login page, the login form POSTed, the redirect back with a code);
5. exchanges the code (client_secret_basic), calls userinfo, refreshes, revokes the refresh token
   (notebooks 04, 06, 07, 08);
6. logs out in the browser (end_session with id_token_hint and post_logout_redirect_uri
   http://localhost:3000), then reads their exchange log (`GET /_mock/exchanges`, notebook 08).

The app's requests (everything but the browser's) each open a new connection, as the kit's
`requests.get` does (`--keep-alive`: one kept-alive connection per learner's app instead); the
browser keeps its connection (and the mock's cookies). Meanwhile the instructor's dashboard
polls `/_room/progress` every 2 s, as its page does.

Pacing: the learners join over `--ramp` seconds (evenly spaced), and each waits a random time
between notebook steps, 0 to twice `--think` seconds (a person reading and running the next
cell). `--burst` is `--ramp 0 --think 0`: everyone presses Shift-Enter at the same instant,
a stress test rather than a classroom.

Printed: each request's latency (p50, p95, max) and errors (any exception or HTTP status of 400
or more: the flow expects none), the room's CPU time per login (the server process's CPU during
the run ÷ the learners: one learner's whole run through the notebooks), its resident memory
(sampled every 20 ms, and VmHWM), and whether its uvicorn uses uvloop and httptools
(`uvicorn[standard]`; uvicorn picks them when installed). `--compare-plain` runs the room a
second time with uvloop and httptools hidden from it (asyncio's loop and h11, as with plain
`uvicorn`) and prints both side by side. Printed, never asserted.

The learners' clients run on the same machine as the room and share its cores: their CPU, and
what everything else on the machine used meanwhile, are printed too. A burst needs more CPU
for the clients (Python, requests) than for the room: there the latencies are the clients' too.

    python benchmarks/room.py [--learners 200] [--ramp 10] [--think 1] [--burst] [--keep-alive]
                              [--client-processes N] [--compare-plain | --plain]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import functools
import importlib.util
import multiprocessing
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
from mock_idp.browser import Browser  # noqa: E402
from providers import BundledMock, pkce_pair  # noqa: E402

REDIRECT_URI = "http://localhost:3000/auth-redirect"  # a room learner's first redirect URI; never listened on
POST_LOGOUT_REDIRECT_URI = "http://localhost:3000"
SCOPE = "openid offline_access email profile"
TIMEOUT = 60  # seconds, per request: a burst of 200 learners queues for a few
DASHBOARD_EVERY = 2.0  # seconds, as the dashboard page polls
SAMPLE_EVERY = 0.02  # seconds between the server's RSS samples
JSON = {"Accept": "application/json"}
TARGETS = {"p95_ms": 250, "peak_mib": 300}
# Run the room with uvloop and httptools hidden (None in sys.modules makes `import` fail), so
# uvicorn's loop="auto" and http="auto" fall back to asyncio and h11: plain uvicorn.
PLAIN = ("import sys; sys.modules['uvloop'] = None; sys.modules['httptools'] = None; "
         "from mock_idp.__main__ import main; sys.exit(main(sys.argv[1:]))")


# -- what is recorded ------------------------------------------------------------------------

@dataclass
class Sent:
    label: str  # "METHOD /path", with the grant type for the token endpoint
    seconds: float
    status: int | None  # None: nothing answered
    error: str | None = None
    resent: bool = False  # the browser sent it again (see TimedSession)


def closed_before_answering(exc: requests.RequestException) -> bool:
    """The server closed the connection before any answer: on a kept-alive connection, the
    server's idle timeout (uvicorn's 5 s) crossing the request on its way."""
    text = str(exc)
    return isinstance(exc, requests.ConnectionError) and ("RemoteDisconnected" in text or "reset by peer" in text)


class TimedSession(requests.Session):
    """A requests.Session that records every request's latency and status in `log`.

    `browser=True`: as a browser does, a request on a kept-alive connection that the server
    closed before answering (its idle timeout, 5 s in uvicorn, crossing the request) is sent
    again once, on a new connection; counted apart (`resent`), not as an error."""

    def __init__(self, log: list[Sent], browser: bool = False) -> None:
        super().__init__()
        self.log = log
        self.browser = browser

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        method, url = str(method), str(url)
        label = f"{method.upper()} {urllib.parse.urlsplit(url).path}"
        data = kwargs.get("data")
        if isinstance(data, dict) and "grant_type" in data:
            label += f" ({data['grant_type']})"
        began = time.perf_counter()
        resent = False
        try:
            try:
                response = super().request(method, url, *args, **kwargs)
            except requests.RequestException as exc:
                if not (self.browser and closed_before_answering(exc)):
                    raise
                resent = True
                response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            self.log.append(Sent(label, time.perf_counter() - began, None, f"{label}: {exc.__class__.__name__}: {exc}",
                                 resent))
            raise
        seconds = time.perf_counter() - began
        error = f"{label}: HTTP {response.status_code} {response.text[:200]!r}" if response.status_code >= 400 else None
        self.log.append(Sent(label, seconds, response.status_code, error, resent))
        return response


class Failed(RuntimeError):
    """A learner's flow went wrong in a way the HTTP status does not show."""


@dataclass
class Learner:
    number: int
    keep_alive: bool = False  # the app's requests on one kept-alive connection (else one each)
    log: list[Sent] = field(default_factory=list)
    failure: str | None = None  # why this learner stopped, if they did
    finished: bool = False
    http: TimedSession | None = None

    def app(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The app's request (the notebook's kernel): a new connection each time, as the kit's
        requests.get, or with keep_alive one requests.Session for all of them."""
        if self.keep_alive:
            self.http = self.http or TimedSession(self.log)
            response = self.http.request(method, url, timeout=TIMEOUT, **kwargs)
        else:
            with TimedSession(self.log) as http:
                response = http.request(method, url, timeout=TIMEOUT, **kwargs)
        if response.status_code >= 400:
            raise Failed(f"{method} {urllib.parse.urlsplit(url).path}: HTTP {response.status_code}")
        return response


def run_learner(learner: Learner, issuer: str, start_at: float, think: float, rng: random.Random) -> None:
    """One learner's run through the notebooks (see the module's docstring)."""
    def pause() -> None:
        if think > 0:
            time.sleep(rng.uniform(0, 2 * think))

    time.sleep(max(0.0, start_at - time.monotonic()))
    try:
        me = learner.app("POST", issuer + "/join", data={"name": f"Learner {learner.number:03d}"}, headers=JSON).json()
        auth = (me["client_id"], me["client_secret"])
        pause()
        learner.app("GET", issuer + "/_mock/clock", auth=auth)
        pause()
        metadata = learner.app("GET", issuer + "/.well-known/openid-configuration").json()
        if not learner.app("GET", metadata["jwks_uri"]).json().get("keys"):
            raise Failed("the JWKS has no keys")
        pause()
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        authorize = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({
            "client_id": me["client_id"], "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": SCOPE,
            "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"})
        with Browser(TimedSession(learner.log, browser=True), timeout=TIMEOUT) as browser:
            landed = browser.login(authorize, until=REDIRECT_URI, email=me["email"], password=me["password"])
            if landed.params.get("state") != state:
                raise Failed(f"the callback's state is not ours: {landed[:200]}")
            pause()
            tokens = learner.app("POST", metadata["token_endpoint"], auth=auth, data={
                "grant_type": "authorization_code", "code": landed.params["code"], "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier}).json()
            pause()
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            if learner.app("GET", metadata["userinfo_endpoint"], headers=bearer).json().get("email") != me["email"]:
                raise Failed("userinfo names someone else")
            pause()
            refreshed = learner.app("POST", metadata["token_endpoint"], auth=auth, data={
                "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
            pause()
            learner.app("POST", metadata["revocation_endpoint"], auth=auth,
                        data={"token": refreshed.get("refresh_token", tokens["refresh_token"])})
            pause()
            logout = metadata["end_session_endpoint"] + "?" + urllib.parse.urlencode({
                "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
                "state": state})
            browser.logout(logout, until=POST_LOGOUT_REDIRECT_URI)
        pause()
        if not learner.app("GET", issuer + "/_mock/exchanges", auth=auth).json().get("exchanges"):
            raise Failed("the learner's exchange log is empty")
        learner.finished = True
    except Exception as exc:  # noqa: BLE001 - counted and shown, the others go on
        learner.failure = f"{exc.__class__.__name__}: {' '.join(str(exc).split())[:300]}"
    finally:
        if learner.http is not None:
            learner.http.close()


def run_learners(numbers: list[int], issuer: str, began: float, ramp: float, learners: int, think: float,
                 seed: int, keep_alive: bool) -> tuple[list[Learner], float]:
    """Learners `numbers` (of `learners`, numbered from 1), a thread each, learner n starting at
    `began` + ramp·(n-1)/learners (time.monotonic(), the same clock in every process); returns
    them and this process's CPU seconds meanwhile. Run here, or in a client process of its own."""
    cpu = time.process_time()
    people = [Learner(number, keep_alive) for number in numbers]
    threads = [threading.Thread(target=run_learner, daemon=True, args=(
        person, issuer, began + ramp * (person.number - 1) / learners, think,
        random.Random(seed * 100_003 + person.number))) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=ramp + 30 * think + 20 * TIMEOUT)
    for person in people:
        person.http = None  # closed; not sent back to the parent process
    return people, time.process_time() - cpu


def warm_up(_: int) -> None:
    """Keeps a client process busy a moment, so that each one starts (and imports this) before the run."""
    time.sleep(0.5)


# -- the room's process ------------------------------------------------------------------------

class RoomProcess(BundledMock):
    """`python -m mock_idp --room` on a free port; `plain` hides uvloop and httptools from it.
    Started at once (not with start()); stop(), memory_kib() as the other servers'."""

    name = "room mock"

    def __init__(self, plain: bool = False) -> None:
        self.plain = plain
        command = [sys.executable, "-c", PLAIN] if plain else [sys.executable, "-m", "mock_idp"]
        self.process = subprocess.Popen(command + ["--room", "--host", "127.0.0.1", "--port", "0"], cwd=ROOT,
                                        env=self.environment(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.log = self.process.stdout  # closed by stop()
        self.output: list[str] = []
        first = [self._line() for _ in range(3)]
        found = re.match(r"Room mock at (\S+) ", first[0])
        dashboard = re.search(r"\?token=(\S+)", first[2])
        if not found or not dashboard:
            self.stop()
            raise RuntimeError("the room did not start: " + "".join(self.output)[-800:])
        self.issuer, self.instructor_token = found.group(1), dashboard.group(1)
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + 30
        while requests.get(self.issuer + "/.well-known/openid-configuration", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the room's discovery did not answer")
            time.sleep(0.01)
        self.ps = psutil.Process(self.process.pid)

    def _line(self) -> str:
        assert self.log is not None
        line = self.log.readline()
        self.output.append(line)
        return line

    def _drain(self) -> None:  # the room's warnings, if any, shown at the end
        try:
            while self._line():
                pass
        except (OSError, ValueError):  # closed by stop()
            pass

    def serving_with(self) -> tuple[str, str]:
        """(event loop, HTTP parser) the room's uvicorn runs with: from the libraries it has loaded."""
        maps = Path(f"/proc/{self.process.pid}/maps").read_text()
        return ("uvloop" if "/uvloop/" in maps else "asyncio", "httptools" if "/httptools/" in maps else "h11")

    def cpu_seconds(self) -> tuple[float, float]:
        """(user, system) CPU seconds so far."""
        times = self.ps.cpu_times()
        return times.user, times.system

    def rss_bytes(self) -> int:
        return self.ps.memory_info().rss

    def vm_hwm_bytes(self) -> int:
        return self.memory_kib()["VmHWM"] * 1024


class PeakSampler(threading.Thread):
    """The room's resident set every SAMPLE_EVERY seconds, until stopped: the highest seen."""

    def __init__(self, room: RoomProcess) -> None:
        super().__init__(daemon=True)
        self.room = room
        self.peak = room.rss_bytes()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(SAMPLE_EVERY):
            try:
                self.peak = max(self.peak, self.room.rss_bytes())
            except psutil.Error:
                return


class Dashboard(threading.Thread):
    """The instructor's dashboard page: GET /_room/progress every 2 s."""

    def __init__(self, room: RoomProcess) -> None:
        super().__init__(daemon=True)
        self.room = room
        self.log: list[Sent] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with TimedSession(self.log) as http:
            while not self.halt.wait(DASHBOARD_EVERY):
                try:
                    http.get(self.room.issuer + "/_room/progress", timeout=TIMEOUT,
                             headers={"Authorization": f"Bearer {self.room.instructor_token}"})
                except requests.RequestException:
                    pass  # recorded


# -- one run -------------------------------------------------------------------------------------

def percentile_ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (all cores)."""
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def run_room(learners: int, ramp: float, think: float, plain: bool, seed: int, keep_alive: bool = False,
             client_processes: int = 1) -> dict[str, Any]:
    """One room, `learners` learners through it; prints the table, returns the figures."""
    room = RoomProcess(plain)
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    try:
        loop, parser = room.serving_with()
        how = "plain uvicorn: uvloop and httptools hidden" if plain else "uvicorn as installed"
        print(f"\nroom: python -m mock_idp --room ({how}): event loop {loop}, HTTP parser {parser}", flush=True)
        rss_start = room.rss_bytes()
        sampler, dashboard = PeakSampler(room), Dashboard(room)
        shares = [list(range(1 + k, learners + 1, client_processes)) for k in range(client_processes)]
        if client_processes > 1:  # started (and imported) before the run begins
            pool = concurrent.futures.ProcessPoolExecutor(client_processes, multiprocessing.get_context("spawn"))
            list(pool.map(warm_up, range(client_processes)))
        began = time.monotonic() + 0.5
        args = (room.issuer, began, ramp, learners, think, seed, keep_alive)
        futures = [pool.submit(run_learners, share, *args) for share in shares] if pool else []
        time.sleep(max(0.0, began - time.monotonic() - 0.05))
        cpu_before, machine_before, started = room.cpu_seconds(), machine_busy_seconds(), time.perf_counter()
        parent_cpu = time.process_time()
        sampler.start()
        dashboard.start()
        groups = [future.result() for future in futures] if pool else [run_learners(shares[0], *args)]
        seconds = time.perf_counter() - started
        cpu_after, machine_after = room.cpu_seconds(), machine_busy_seconds()
        parent_cpu = time.process_time() - parent_cpu
        user, system = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
        dashboard.halt.set()
        sampler.halt.set()
        dashboard.join(TIMEOUT)
        sampler.join(5)
        people = sorted((person for group, _ in groups for person in group), key=lambda person: person.number)
        # This process (the dashboard, the sampler, and the learners unless elsewhere), plus the client processes.
        client_cpu = parent_cpu + (sum(cpu for _, cpu in groups) if pool else 0.0)
        figures = {"loop": loop, "parser": parser, "seconds": seconds, "cpu_s": user + system, "system_s": system,
                   "rss_start": rss_start, "peak_sampled": sampler.peak, "vm_hwm": room.vm_hwm_bytes(),
                   "client_processes": client_processes,
                   "others_s": max(0.0, machine_after - machine_before - user - system - client_cpu)}
        printed = list(room.output)  # during the run: not what uvicorn says on Ctrl-C
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        room.stop()
    sent = [one for person in people for one in person.log]
    figures.update(report(people, dashboard.log, figures, learners, client_cpu=client_cpu))
    warnings = [line.rstrip() for line in printed[6:] if line.strip()]  # after its 6-line banner
    if warnings:
        print("  the room printed:\n    " + "\n    ".join(warnings[:10]))
    figures["requests"] = len(sent)
    return figures


def report(people: list[Learner], dashboard: list[Sent], figures: dict[str, Any], learners: int,
           client_cpu: float) -> dict[str, Any]:
    sent = [one for person in people for one in person.log]
    by_label: dict[str, list[Sent]] = collections.defaultdict(list)
    for one in sent:
        by_label[one.label].append(one)
    errors = [one for one in sent if one.error]
    finished = sum(person.finished for person in people)
    failures = [person.failure for person in people if person.failure]
    seconds = figures["seconds"]

    print(f"  {learners} learners, {len(sent):,} requests in {seconds:.1f} s ({len(sent) / seconds:.0f}/s)")
    print(f"  {'request':44} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>7}")
    for label in by_label:  # in the order of the flow
        rows = by_label[label]
        times = [one.seconds for one in rows]
        print(f"  {label:44} {len(rows):6} {percentile_ms(times, 0.5):8.1f} {percentile_ms(times, 0.95):8.1f} "
              f"{1000 * max(times):8.1f} {sum(1 for one in rows if one.error):7}")
    every = [one.seconds for one in sent]
    p50, p95 = percentile_ms(every, 0.5), percentile_ms(every, 0.95)
    print(f"  {'all the learners requests':44} {len(sent):6} {p50:8.1f} {p95:8.1f} "
          f"{1000 * max(every, default=0):8.1f} {len(errors):7}")
    polls = [one.seconds for one in dashboard]
    if polls:
        print(f"  {'(the dashboard: GET /_room/progress)':44} {len(polls):6} {percentile_ms(polls, 0.5):8.1f} "
              f"{percentile_ms(polls, 0.95):8.1f} {1000 * max(polls):8.1f} {sum(1 for one in dashboard if one.error):7}")

    cpu = figures["cpu_s"]
    per_login_ms = 1000 * cpu / learners
    mib = 1024 * 1024
    peak = max(figures["peak_sampled"], figures["vm_hwm"])
    resent = sum(one.resent for one in sent)
    print(f"  learners who got through every step: {finished}/{learners}; failed requests: {len(errors)}"
          + (f"; {resent} sent again by the browser (the server had closed its idle kept-alive connection)"
             if resent else ""))
    for problem in (failures + [one.error for one in errors])[:5]:
        print(f"    {problem}")
    print(f"  room CPU: {cpu:.2f} s in all ({figures['system_s'] / cpu if cpu else 0:.0%} of it in the kernel) = "
          f"{per_login_ms:.1f} ms per login (one learner's whole run, {len(sent) / learners:.0f} requests: "
          f"{1000 * cpu / max(1, len(sent)):.2f} ms each); {cpu / seconds:.0%} of a core over the run")
    print(f"  room memory: RSS {figures['rss_start'] / mib:.1f} MiB at start, peak {figures['peak_sampled'] / mib:.1f} "
          f"MiB sampled, VmHWM {figures['vm_hwm'] / mib:.1f} MiB "
          f"(+{(peak - figures['rss_start']) / mib / learners * 1024:.0f} KiB per learner)")
    where = "this process" if figures["client_processes"] == 1 else f"{figures['client_processes']} client processes"
    print(f"  the {learners} learners' clients ({where}): {client_cpu:.1f} s CPU, {client_cpu / seconds:.0%} of a core; "
          f"everything else on the machine: {figures['others_s'] / seconds:.0%} of a core "
          f"(of {os.cpu_count()})")
    met = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    print(f"  targets: 0 errors {met(not errors and not failures)}; p95 {p95:.0f} ms < {TARGETS['p95_ms']} ms "
          f"{met(p95 < TARGETS['p95_ms'])}; peak {peak / mib:.0f} MiB < {TARGETS['peak_mib']} MiB "
          f"{met(peak / mib < TARGETS['peak_mib'])}", flush=True)
    return {"p50_ms": p50, "p95_ms": p95, "max_ms": 1000 * max(every, default=0), "errors": len(errors),
            "failures": len(failures), "finished": finished, "resent": resent, "per_login_ms": per_login_ms,
            "peak": peak,
            "dashboard_p95_ms": percentile_ms(polls, 0.95) if polls else None, "client_cpu_s": client_cpu}


def comparison(standard: dict[str, Any], plain: dict[str, Any]) -> None:
    mib = 1024 * 1024
    rows = [
        ("event loop / HTTP parser", lambda f: f"{f['loop']} / {f['parser']}", None),
        ("room CPU per login", lambda f: f"{f['per_login_ms']:.1f} ms", "per_login_ms"),
        ("latency p50", lambda f: f"{f['p50_ms']:.1f} ms", "p50_ms"),
        ("latency p95", lambda f: f"{f['p95_ms']:.1f} ms", "p95_ms"),
        ("latency max", lambda f: f"{f['max_ms']:.0f} ms", "max_ms"),
        ("dashboard p95", lambda f: f"{f['dashboard_p95_ms']:.1f} ms" if f["dashboard_p95_ms"] else "no poll",
         "dashboard_p95_ms"),
        ("peak memory", lambda f: f"{f['peak'] / mib:.1f} MiB", "peak"),
        ("errors (failed requests)", lambda f: f"{f['errors']}", None),
        ("sent again by the browser", lambda f: f"{f['resent']}", None),
    ]
    print(f"\nComparison\n  {'':28} {'as installed':>20} {'plain uvicorn':>20} {'ratio':>7}")
    for label, shown, key in rows:
        ratio = f"{standard[key] / plain[key]:6.2f}x" if key and standard[key] and plain[key] else ""
        print(f"  {label:28} {shown(standard):>20} {shown(plain):>20} {ratio:>7}")
    print("  ratio = as installed ÷ plain: below 1 is better.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=200,
                        help="learners in the room (default 200; the room takes 250)")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which they join (default 10)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean seconds between a learner's notebook steps, each 0 to twice this (default 1)")
    parser.add_argument("--burst", action="store_true", help="--ramp 0 --think 0: everyone at the same instant")
    parser.add_argument("--compare-plain", action="store_true",
                        help="run the room again with uvloop and httptools hidden (plain uvicorn), and compare")
    parser.add_argument("--plain", action="store_true", help="only the plain run")
    parser.add_argument("--keep-alive", action="store_true",
                        help="each learner's app keeps one connection (a requests.Session), where the kit opens one "
                             "per request")
    parser.add_argument("--client-processes", type=int, default=1,
                        help="spread the learners' clients over this many processes (default 1: threads of this "
                             "one; a burst needs more than one Python process can send)")
    parser.add_argument("--seed", type=int, default=1, help="for the think times (default 1)")
    args = parser.parse_args(argv)
    if args.burst:
        args.ramp = args.think = 0.0
    from run_all import load, machine  # noqa: PLC0415 - run_all imports this module

    installed = [name for name in ("uvloop", "httptools") if importlib.util.find_spec(name)]
    print(f"Room benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}; {machine()}; load average {load()}")
    print(f"  installed here: {', '.join(installed) or 'neither uvloop nor httptools'} "
          "(uvicorn[standard] brings both where they install)")
    print(f"  {args.learners} learners joining over {args.ramp:g} s, {args.think:g} s between steps on average"
          + (" (burst)" if args.burst else "") + ("; the app keeps its connection" if args.keep_alive else
                                                  "; the app opens a connection per request, as the kit"), flush=True)
    run = functools.partial(run_room, args.learners, args.ramp, args.think, seed=args.seed, keep_alive=args.keep_alive,
                            client_processes=max(1, args.client_processes))
    if args.plain:
        run(plain=True)
        return 0
    standard = run(plain=False)
    if args.compare_plain:
        comparison(standard, run(plain=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
