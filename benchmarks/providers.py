"""The authorization servers the benchmarks run, each as its own process on 127.0.0.1, and
the requests a browser and a client app make against each (no backdoor: the login goes
through each server's own login form).

- `BundledMock`: this kit's mock (`python -m mock_idp`), the Authgear flow: authorize → 303
  to the login page → POST email and password → 303 to the redirect URI with a code.
- `PeerMock`: oidc-provider-mock from PyPI (geigerzaehler/oidc-provider-mock), installed on
  demand into a virtual environment of its own in a cache folder (never the kit's). Its
  authorize page is itself the form: POST a `sub` to the same URL → 302 with a code.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
REDIRECT_URI = "http://localhost:3000/auth-redirect"  # registered in the mock; never listened on
CLIENT_ID, CLIENT_SECRET = "mock-client", "mock-secret"
EMAIL, PASSWORD = "alice@example.com", "alice123"
SCOPE = "openid email profile"  # what both servers support
RESERVED_PORTS = {3000, 3001, 4000}  # the kit's own: the walkthrough, the notebooks, the mock
TIMEOUT = 30


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def callback_params(response: requests.Response, state: str) -> dict[str, str]:
    """The code from the redirect to the client (not followed: nothing listens there)."""
    location = response.headers.get("location", "")
    if response.status_code not in (302, 303) or not location.startswith(REDIRECT_URI + "?"):
        raise RuntimeError(f"expected a redirect to the client, got {response.status_code} {location[:120]}")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    if params.get("state") != state or "code" not in params:
        raise RuntimeError(f"bad callback: {location[:200]}")
    return params


class Provider:
    """An authorization server running as its own process."""

    name = ""
    process: subprocess.Popen[bytes] | None = None
    url = ""
    metadata: dict[str, Any] = {}

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> float:
        """Starts the process; returns the seconds from process start to discovery answering."""
        port = free_port()
        self.log = tempfile.TemporaryFile()
        began = time.perf_counter()
        self.process = subprocess.Popen(self.command(port), cwd=ROOT, env=self.environment(),
                                        stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = began + TIMEOUT
        while True:
            try:
                answer = requests.get(self.url + "/.well-known/openid-configuration", timeout=2)
                if answer.status_code == 200:
                    elapsed = time.perf_counter() - began
                    self.metadata = answer.json()
                    return elapsed
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.perf_counter() > deadline:
                self.log.seek(0)
                tail = self.log.read()[-800:].decode(errors="replace")
                self.stop()
                raise RuntimeError(f"{self.name} did not answer discovery: {tail}")
            time.sleep(0.002)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.log.close()

    # -- what the process costs
    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak resident set) from /proc, in KiB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return {key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1)) for key in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    # -- the flow
    def authorize_params(self) -> tuple[dict[str, str], str]:
        verifier, challenge = pkce_pair()
        params = {
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code", "scope": SCOPE,
            "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
        return params, verifier

    def login(self, browser: requests.Session) -> tuple[str, str]:
        """A fresh browser login through the login form: returns (code, PKCE verifier)."""
        raise NotImplementedError

    def exchange(self, http: requests.Session, code: str, verifier: str) -> dict[str, Any]:
        answer = http.post(self.metadata["token_endpoint"], timeout=TIMEOUT, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code_verifier": verifier,
        })
        if answer.status_code != 200:
            raise RuntimeError(f"{self.name} token endpoint: {answer.status_code} {answer.text[:200]}")
        tokens = answer.json()
        if "id_token" not in tokens or "access_token" not in tokens:
            raise RuntimeError(f"{self.name} token endpoint: no tokens in {tokens}")
        return tokens

    def userinfo(self, http: requests.Session, access_token: str) -> dict[str, Any]:
        answer = http.get(self.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + access_token},
                          timeout=TIMEOUT)
        if answer.status_code != 200 or answer.json().get("email") != EMAIL:
            raise RuntimeError(f"{self.name} userinfo: {answer.status_code} {answer.text[:200]}")
        return answer.json()

    def flow(self, browser: requests.Session) -> None:
        """authorize → login form → code → token → userinfo, as a new visitor (no IdP cookie)."""
        code, verifier = self.login(browser)
        tokens = self.exchange(browser, code, verifier)
        self.userinfo(browser, tokens["access_token"])


class BundledMock(Provider):
    name = "bundled mock"

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "mock_idp", "--host", "127.0.0.1", "--port", str(port)]

    def environment(self) -> dict[str, str]:
        # The kit's own source, installed or not.
        return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def login(self, browser: requests.Session) -> tuple[str, str]:
        browser.cookies.clear()  # a new visitor: no single sign-on, the form every time
        params, verifier = self.authorize_params()
        first = browser.get(self.metadata["authorization_endpoint"], params=params, allow_redirects=False, timeout=TIMEOUT)
        if first.status_code != 303:
            raise RuntimeError(f"authorize: {first.status_code} {first.text[:200]}")
        page = browser.get(first.headers["location"], allow_redirects=False, timeout=TIMEOUT)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        login_request = re.search(r'name="login_request" value="([^"]+)"', page.text)
        if page.status_code != 200 or not action or not login_request:
            raise RuntimeError(f"login page: {page.status_code} {page.text[:200]}")
        answer = browser.post(action.group(1), allow_redirects=False, timeout=TIMEOUT, data={
            "login_request": login_request.group(1), "email": EMAIL, "password": PASSWORD, "action": "login",
        })
        return callback_params(answer, params["state"])["code"], verifier


class PeerMock(Provider):
    name = "oidc-provider-mock"

    def __init__(self, python: Path, version: str) -> None:
        self.python = python
        self.version = version

    def command(self, port: int) -> list[str]:
        return [str(self.python), "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]

    def environment(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def login(self, browser: requests.Session) -> tuple[str, str]:
        params, verifier = self.authorize_params()
        page = browser.get(self.metadata["authorization_endpoint"], params=params, allow_redirects=False, timeout=TIMEOUT)
        if page.status_code != 200 or '<form method="post"' not in page.text or 'name="sub"' not in page.text:
            raise RuntimeError(f"authorize page: {page.status_code} {page.text[:200]}")
        # Its form has no action: a browser posts it to the page's own URL, query included.
        answer = browser.post(page.url, data={"sub": EMAIL}, allow_redirects=False, timeout=TIMEOUT)
        return callback_params(answer, params["state"])["code"], verifier


def peer_venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("KIT_BENCH_PEER_VENV") or cache / "authgear-oauth-kit" / "oidc-provider-mock-venv")


def install_peer() -> PeerMock | None:
    """oidc-provider-mock in a virtual environment of its own, created on first use; None
    (with the reason printed) when it cannot be installed, e.g. without network."""
    venv = peer_venv()
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m, oidc_provider_mock; print(m.version('oidc-provider-mock'))"]
    try:
        if not python.exists():
            print(f"Installing oidc-provider-mock into {venv} (once) ...", flush=True)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True, text=True, timeout=300)
        found = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        if found.returncode != 0:
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "oidc-provider-mock"], check=True, capture_output=True, text=True, timeout=600)
            found = subprocess.run(probe, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        print(f"Skipping oidc-provider-mock: it could not be installed ({str(detail).strip()[-300:]})")
        return None
    return PeerMock(python, found.stdout.strip())
