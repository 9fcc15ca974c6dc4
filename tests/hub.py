"""A real JupyterHub on this machine, for tests/test_hosted_hub.py: the hub, its proxy (npm's
configurable-http-proxy, which `make test` installs into .test-tools/) and one single-user
server for each learner, all local processes on 127.0.0.1.

- `running_hub(folder)` starts the hub (dummy authenticator: any password; the simple local
  spawner: every learner's server is a process of this machine's user, HOME under `folder`)
  and stops it at the end with everything it started, then checks that nothing it started
  still listens.
- `Hub` is the test's admin access to the hub's REST API: start a learner's server, give them a
  token. `log_in_to_hub` and `open_own_server` are what a learner's browser does.
- `Server` is a learner's single-user server's REST API; `Kernel` a kernel on it, driven over
  its websocket with the Jupyter messaging protocol (v5): run a cell's source, collect what it
  shows, raise with the traceback when it fails.

No test tool is fetched here: a missing one fails the test with the command that installs it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil  # declared in the test extra: finds every process a hub run left, to stop it
import pytest
import requests
import websocket  # websocket-client, installed with jupyter_server: a blocking client suits a sync test

from mock_idp.server import port_in_use
from tests.browser import ARTIFACTS

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent  # not resolved: the venv's bin, not the system Python's
CHP_VERSION = "5.3.0"  # pinned in scripts/install-test-tools.sh too
CHP = (ROOT / ".test-tools" / f"configurable-http-proxy@{CHP_VERSION}" / "node_modules" / "configurable-http-proxy"
       / "bin" / "configurable-http-proxy")
# Every process of one hub carries this variable with the run's own value: the teardown finds
# them all by it, even one whose parent died (it is no longer the hub's descendant then).
RUN_MARKER = "HUB_TEST_RUN"
# The runner's own settings never reach the hub, nor through it the learners' servers and
# kernels: its Authgear project and kit switches (KIT_AUTOLOGIN would skip the browser), and
# the variables of a hub the runner may itself run in.
RUNNER_ONLY = ("AUTHGEAR_", "KIT_", "JUPYTERHUB_", "JPY_", "CONFIGPROXY_")
HTTP_TIMEOUT = 10  # seconds, for one REST call
START_TIMEOUT = 90  # seconds, for the hub or one learner's server (about 5-15 s each here)
STOP_TIMEOUT = 30  # seconds the hub gets to stop its servers and its proxy
CELL_TIMEOUT = 60  # seconds, for one cell
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # the colours of IPython's tracebacks

CONFIG = """\
# Written by tests/hub.py for one test run; nothing here is meant for a real hub.
c.JupyterHub.bind_url = {public!r}
c.JupyterHub.hub_bind_url = {internal!r}
c.ConfigurableHTTPProxy.api_url = {proxy_api!r}
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.JupyterHub.db_url = {db!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.pid_file = {pid_file!r}
c.JupyterHub.cleanup_servers = True  # stopping the hub stops the learners' servers,
c.JupyterHub.cleanup_proxy = True  # and its proxy

# Any name and any password log in (JupyterHub 5+ refuses everyone unless told to allow all).
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True

# Every learner's server is a process of this machine's user, with a HOME of its own.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r}
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root"]  # the tests run as root; without it the server exits at once
c.Spawner.ip = "127.0.0.1"
c.Spawner.notebook_dir = {root!r}  # the repository: notebooks/03-….ipynb as a learner's path
c.Spawner.default_url = "/lab"
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 2}}  # "pending" after 2 s; the test polls
c.Spawner.start_timeout = {start_timeout!r}
c.Spawner.http_timeout = {start_timeout!r}
# On top of what the spawner keeps (PATH, LANG, …): this run's marker, and no .env of the
# developer's (the bundled mock, whatever the runner's repository holds).
c.Spawner.environment = {environment!r}

# The test's own access: start servers, make each learner a token for their server's REST API.
c.JupyterHub.services = [{{"name": "hub-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "hub-test", "scopes": ["admin:users", "admin:servers", "tokens"],
                             "services": ["hub-test"]}}]
"""


def required_tools() -> None:
    """Fails (never skips) with what to run when a tool of the real hub is missing."""
    if not CHP.is_file():
        pytest.fail(f"{CHP.relative_to(ROOT)} is missing: run `make test` (or `bash scripts/install-test-tools.sh`), "
                    "which installs JupyterHub's proxy from npm before the tests", pytrace=False)
    if shutil.which("node") is None:
        pytest.fail("node is missing (configurable-http-proxy is a Node program): install Node.js 20 or later "
                    "(e.g. sudo apt-get install -y nodejs npm), then run `make test`", pytrace=False)
    for program in ("jupyterhub", "jupyterhub-singleuser"):
        if not (VENV_BIN / program).is_file():
            pytest.fail(f"{VENV_BIN / program} is missing: run `make setup-test` "
                        "(pip install -e '.[test]' installs JupyterHub)", pytrace=False)


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on, all different (held open together while picked)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# --- The hub --------------------------------------------------------------------------------

@dataclass
class Hub:
    url: str  # the hub's public address (its proxy): what a learner's browser opens
    token: str  # the test's service token (users, servers, tokens)
    log: Path  # the hub's output, with its proxy's and every server's (they inherit it)
    process: subprocess.Popen
    run: str  # this run's RUN_MARKER value
    ports: list[int]
    kernels: list[Kernel] = field(default_factory=list)  # every kernel connection handed out, closed at the end

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return requests.request(method, f"{self.url}/hub/api{path}", headers={"Authorization": f"token {self.token}"},
                                **kwargs)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def failed(self, what: str) -> AssertionError:
        return AssertionError(f"{what}\n--- the end of the hub's log ({self.log}) ---\n{self.log_tail()}")

    def wait_ready(self) -> None:
        """Until the hub answers through its proxy (so both run, and the proxy routes to the hub)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise self.failed(f"JupyterHub exited at start (exit code {self.process.returncode})")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise self.failed(f"JupyterHub did not answer at {self.url}/hub/api/ within {START_TIMEOUT} s")
            time.sleep(0.25)

    def start_server(self, name: str) -> Server:
        """Starts `name`'s server (they must have logged in once: the hub knows them then), waits
        until it answers, and gives the test a token of theirs for its REST API."""
        # The hub answers once the server is up or after its slow_spawn_timeout (202, pending), which
        # the config below keeps short: on a loaded machine a spawn takes longer than HTTP_TIMEOUT.
        started = self.api("POST", f"/users/{name}/server", timeout=START_TIMEOUT)
        if started.status_code not in (201, 202):
            raise self.failed(f"starting {name}'s server: HTTP {started.status_code} {started.text}")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            model = self.api("GET", f"/users/{name}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                break
            if not server or not server.get("pending"):
                raise self.failed(f"{name}'s server stopped while starting: {model}")
            if time.monotonic() > deadline:
                raise self.failed(f"{name}'s server was not ready within {START_TIMEOUT} s: {model}")
            time.sleep(0.25)
        # A token of the learner's own: it reaches their server, as their browser's cookie does.
        token = self.api("POST", f"/users/{name}/tokens", json={"note": "tests/hub.py", "expires_in": 3600})
        if token.status_code != 201:
            raise self.failed(f"a token for {name}: HTTP {token.status_code} {token.text}")
        return Server(self, name, token.json()["token"])

    def stop(self) -> list[int]:
        """Stops the hub, which stops its servers (and their kernels) and its proxy; then stops
        whatever of this run still runs, mocks included. Returns the ports still listening."""
        for kernel in self.kernels:
            kernel.close()  # an open websocket would outlive the test as an unclosed socket
        processes = ours(self.run, self.process.pid)
        ports = set(self.ports) | listening(processes)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        leftovers = [process for process in {p.pid: p for p in processes + ours(self.run)}.values() if alive(process)]
        if leftovers:
            # Not a failure (they are stopped now), but worth knowing: the hub left them behind.
            warnings.warn(f"the hub left {len(leftovers)} process(es) running, now stopped: "
                          + "; ".join(describe(process) for process in leftovers))
            for process in leftovers:
                process.terminate()
            _, stubborn = psutil.wait_procs(leftovers, timeout=5)
            for process in stubborn:
                process.kill()
            psutil.wait_procs(stubborn, timeout=5)
        deadline = time.monotonic() + 10
        while any(port_in_use(port) for port in ports) and time.monotonic() < deadline:
            time.sleep(0.1)
        return sorted(port for port in ports if port_in_use(port))


def ours(run: str, hub_pid: int | None = None) -> list[psutil.Process]:
    """The processes of this run: the hub's descendants, and every process with its marker."""
    found: dict[int, psutil.Process] = {}
    if hub_pid is not None:
        try:
            hub = psutil.Process(hub_pid)
            found.update((process.pid, process) for process in [hub, *hub.children(recursive=True)])
        except psutil.NoSuchProcess:
            pass
    for process in psutil.process_iter():
        try:
            if process.pid not in found and process.environ().get(RUN_MARKER) == run:
                found[process.pid] = process
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return list(found.values())


def listening(processes: list[psutil.Process]) -> set[int]:
    """The TCP ports these processes listen on."""
    ports = set()
    for process in processes:
        try:
            ports.update(connection.laddr.port for connection in process.net_connections(kind="inet")
                         if connection.status == psutil.CONN_LISTEN)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return ports


def alive(process: psutil.Process) -> bool:
    """Still running (the same process, not a new one with its pid), and not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def describe(process: psutil.Process) -> str:
    try:
        return f"pid {process.pid}: {' '.join(process.cmdline())[:160]}"
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return f"pid {process.pid}"


@contextmanager
def running_hub(folder: Path) -> Iterator[Hub]:
    """A JupyterHub on free ports of 127.0.0.1, its database, cookie secret, log and learners'
    homes in `folder`; stopped at the end with everything it started, even when the test fails.
    Its log is copied to test-artifacts/hub/hub.log to read after a run."""
    required_tools()
    public, internal, proxy_api = free_ports(3)
    token, run = secrets.token_hex(32), secrets.token_hex(8)
    config = folder / "jupyterhub_config.py"
    config.write_text(CONFIG.format(
        public=f"http://127.0.0.1:{public}", internal=f"http://127.0.0.1:{internal}",
        proxy_api=f"http://127.0.0.1:{proxy_api}", chp=str(CHP), db=f"sqlite:///{folder / 'jupyterhub.sqlite'}",
        cookie_secret=str(folder / "cookie_secret"), pid_file=str(folder / "jupyterhub.pid"),
        homes=str(folder / "home" / "{username}"), singleuser=str(VENV_BIN / "jupyterhub-singleuser"),
        root=str(ROOT), start_timeout=START_TIMEOUT, token=token,
        environment={RUN_MARKER: run, "KIT_ENV_FILE": os.devnull},
    ))
    env = {name: value for name, value in os.environ.items() if not name.startswith(RUNNER_ONLY)}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])  # the servers' kernels: the venv's Python
    env[RUN_MARKER] = run
    log = folder / "hub.log"
    with log.open("wb") as output:
        # A session of its own: a Ctrl-C at the terminal reaches pytest, whose teardown stops the hub.
        process = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(config)], cwd=folder, env=env,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    hub = Hub(f"http://127.0.0.1:{public}", token, log, process, run, [public, internal, proxy_api])
    try:
        hub.wait_ready()
        yield hub
    finally:
        busy = hub.stop()
        kept = ARTIFACTS / "hub" / "hub.log"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, kept)
    # Only when the test itself passed (a failure above is the one to read).
    assert not busy, f"port(s) {busy} still listening after the hub and everything it started were stopped"


# --- What a learner's browser does at the hub -----------------------------------------------

def log_in_to_hub(page: Any, hub: Hub, name: str) -> None:
    """The hub's login form (any password), landing on the hub's home page: no server yet."""
    page.goto(f"{hub.url}/hub/login?next=/hub/home")
    page.fill("#username_input", name)
    page.fill("#password_input", f"{name}'s password")  # the dummy authenticator takes any
    page.click("#login_submit")
    page.wait_for_url(lambda url: url.startswith(f"{hub.url}/hub/home"))


def open_own_server(page: Any, hub: Hub, name: str) -> None:
    """The first visit to their running server (as "My Server" does): the server's own OAuth
    with the hub leaves a cookie for /user/NAME/, which every later page there needs (a
    jupyter-server-proxy entry such as /user/NAME/mock/ included)."""
    page.goto(f"{hub.url}/user/{name}/lab")
    page.wait_for_url(lambda url: url.startswith(f"{hub.url}/user/{name}/lab"))


# --- A learner's server and a kernel on it --------------------------------------------------

@dataclass
class Server:
    hub: Hub
    name: str
    token: str  # the learner's own token: access to their server, no other

    @property
    def url(self) -> str:
        return f"{self.hub.url}/user/{self.name}"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Its REST API; a token (not a cookie) needs no _xsrf for a POST or a DELETE."""
        return requests.request(method, f"{self.url}/api{path}", headers={"Authorization": f"token {self.token}"},
                                timeout=HTTP_TIMEOUT, **kwargs)

    def start_kernel(self, path: str) -> Kernel:
        """A python3 kernel for the notebook at `path` (from the repository's root): its working
        directory is the notebook's folder, as JupyterLab starts it."""
        response = self.api("POST", "/kernels", json={"name": "python3", "path": path})
        if response.status_code != 201:
            raise self.hub.failed(f"starting a kernel on {self.name}'s server: HTTP {response.status_code} "
                                  f"{response.text}")
        return Kernel(self, response.json()["id"])


@dataclass
class Outputs:
    """What a cell showed, in order: streams and text/plain; its HTML outputs apart."""

    text: str = ""
    html: list[str] = field(default_factory=list)
    stderr: str = ""


class CellError(Exception):
    """The cell raised: the message holds its source and IPython's traceback, colours removed."""

    def __init__(self, source: str, reply: dict[str, Any], outputs: Outputs) -> None:
        self.ename, self.evalue = reply.get("ename", ""), reply.get("evalue", "")
        self.traceback = ANSI.sub("", "\n".join(reply.get("traceback", [])))
        self.outputs = outputs
        super().__init__(f"{self.ename}: {self.evalue}\n--- the cell ---\n{source}\n--- it showed ---\n"
                         f"{outputs.text}\n--- the traceback ---\n{self.traceback}")


class Kernel:
    """One kernel on a learner's server, over /api/kernels/ID/channels (the protocol's JSON
    messages, the channel named in each)."""

    def __init__(self, server: Server, kernel_id: str) -> None:
        self.server = server
        self.id = kernel_id
        self.session = uuid.uuid4().hex
        self.ws: websocket.WebSocket | None = None
        server.hub.kernels.append(self)
        self._connect()

    def _connect(self) -> None:
        url = self.server.url.replace("http://", "ws://", 1) + f"/api/kernels/{self.id}/channels"
        # No Origin, as a program (not a page) connects; the token stands for the learner.
        self.ws = websocket.create_connection(f"{url}?session_id={self.session}", timeout=HTTP_TIMEOUT,
                                              header=[f"Authorization: token {self.server.token}"],
                                              suppress_origin=True)
        self._wait_ready()

    def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": msg_type, "username": self.server.name, "session": self.session,
                  "date": datetime.now(timezone.utc).isoformat(), "version": "5.3"}
        assert self.ws is not None, "the kernel was shut down"
        self.ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                                 "channel": "shell", "buffers": []}))
        return msg_id

    def _replies(self, msg_id: str, deadline: float) -> Iterator[dict[str, Any]]:
        """The messages answering `msg_id`, until `deadline` (then TimeoutError)."""
        assert self.ws is not None, "the kernel was shut down"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.ws.settimeout(left)
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                raise TimeoutError from None
            if isinstance(frame, bytes):
                continue  # a binary frame carries buffers (widgets): nothing here sends any
            message = json.loads(frame)
            if message.get("parent_header", {}).get("msg_id") == msg_id:
                yield message

    def _wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until the kernel answers a kernel_info_request (asked again every few seconds, as
        jupyter_client does: one sent while it starts can be lost)."""
        deadline = time.monotonic() + timeout
        while True:
            msg_id = self._send("kernel_info_request", {})
            try:
                for message in self._replies(msg_id, min(deadline, time.monotonic() + 3)):
                    if message["msg_type"] == "kernel_info_reply":
                        return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise self.server.hub.failed(f"kernel {self.id} on {self.server.name}'s server did not "
                                                 f"answer within {timeout} s") from None

    def execute(self, source: str, timeout: float = CELL_TIMEOUT) -> Outputs:
        """Runs `source` as a cell; returns what it showed, raises CellError if it raised. A cell
        still running after `timeout` is interrupted (the kernel stays usable) and fails."""
        msg_id = self._send("execute_request", {"code": source, "silent": False, "store_history": True,
                                                "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
        outputs, reply, idle = Outputs(), None, False
        try:
            for message in self._replies(msg_id, time.monotonic() + timeout):
                kind, content = message["msg_type"], message["content"]
                if kind == "execute_reply":
                    reply = content
                elif kind == "status":
                    idle = content["execution_state"] == "idle"
                elif kind == "stream":
                    outputs.text += content["text"]
                    if content["name"] == "stderr":
                        outputs.stderr += content["text"]
                elif kind in ("display_data", "execute_result"):
                    outputs.text += content["data"].get("text/plain", "") + "\n"
                    if "text/html" in content["data"]:
                        outputs.html.append(content["data"]["text/html"])
                if reply is not None and idle:  # the reply, and every output before the kernel went idle
                    break
        except TimeoutError:
            self.server.api("POST", f"/kernels/{self.id}/interrupt")
            raise AssertionError(f"the cell did not finish within {timeout} s on {self.server.name}'s kernel:\n"
                                 f"{source}\n--- it showed so far ---\n{outputs.text}") from None
        if reply["status"] != "ok":
            raise CellError(source, reply, outputs)
        return outputs

    def value(self, expression: str, timeout: float = CELL_TIMEOUT) -> Any:
        """The value of a Python expression in the kernel, through JSON (no name is added to the
        kernel's namespace)."""
        mark = "JSON-VALUE:"
        shown = self.execute(f"print({mark!r} + __import__('json').dumps({expression}))", timeout)
        line = next(line for line in reversed(shown.text.splitlines()) if line.startswith(mark))
        return json.loads(line[len(mark):])

    def close(self) -> None:
        """Closes the connection only: the kernel runs on."""
        if self.ws is not None:
            try:
                self.ws.close()
            except (websocket.WebSocketException, OSError):
                pass  # a broken connection is closed enough; the teardown must go on
            self.ws = None

    def restart(self) -> None:
        """Restarts the kernel (a new process, the same id), as Kernel → Restart does."""
        self.close()
        response = self.server.api("POST", f"/kernels/{self.id}/restart")
        if response.status_code != 200:
            raise self.server.hub.failed(f"restarting kernel {self.id}: HTTP {response.status_code} {response.text}")
        self._connect()

    def shutdown(self) -> None:
        """Shuts the kernel down, as Kernel → Shut Down does (its threads, listeners, go with it)."""
        self.close()
        response = self.server.api("DELETE", f"/kernels/{self.id}")
        if response.status_code not in (204, 404):  # 404: already gone
            raise self.server.hub.failed(f"shutting kernel {self.id} down: HTTP {response.status_code} "
                                         f"{response.text}")
