"""`python3 start.py lab` (`make lab`): the bundled mock (unless .env names a real Authgear project)
and JupyterLab. start.py runs this with the kit's environment's Python, once it is set up.

The mock runs as its own process on http://localhost:4000 so that every notebook kernel,
the walkthrough and the learner's browser all talk to the same authorization server.

Arguments go to JupyterLab (`--no-browser`, `--port 8890`); `--check` checks the settings and the
ports and starts nothing. One Ctrl-C stops JupyterLab, then the mock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from kit.settings import MOCK_ENDPOINT, SettingsError, discovered_issuer, load_settings, mock_answers
from mock_idp.server import port_in_use

ROOT = Path(__file__).resolve().parent.parent


FIRST_NOTEBOOK = "01-setup.ipynb"
JUPYTER_PORT = 8888  # JupyterLab's default; WALKTHROUGH_NOTEBOOKS_URL's too
# JupyterLab's own settings for the kit's environment: no "would you like news?" pop-up over the
# first notebook, no update check (a room of laptops, maybe offline).
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
# What stops us: SIGTERM (`timeout`, a process manager, start.py passing one on), SIGHUP (the
# terminal closed), Ctrl-Break on Windows. Each ends us through `finally`, so nothing stays behind.
STOP_SIGNALS = [name for name in ("SIGTERM", "SIGHUP", "SIGBREAK") if hasattr(signal, name)]


def quiet_jupyterlab(prefix: Path = Path(sys.prefix)) -> Path:
    """Writes the kit's settings into this environment's JupyterLab overrides.json (merged with
    what is there): they apply to this venv only, never to the learner's other JupyterLabs."""
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    try:
        current = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        current = {}
    merged = {**current, **{key: {**current.get(key, {}), **value} for key, value in LAB_OVERRIDES.items()}}
    if merged != current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=2) + "\n")
    return path


def say(text: str) -> None:
    """Printed if there is still a terminal: after a hang-up, stopping must go on regardless."""
    try:
        print(text, flush=True)
    except (OSError, ValueError):
        pass


def own_process_group(platform: str = sys.platform) -> dict:
    """Popen options that keep the terminal's Ctrl-C away from a child we stop ourselves (the
    mock): on POSIX a session of its own; on Windows a process group of its own, which the
    console's Ctrl-C does not reach (CREATE_NEW_PROCESS_GROUP)."""
    if platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True}


def finding_what_holds(port: int, platform: str = sys.platform) -> str:
    if platform == "win32":
        return (f"`netstat -ano | findstr :{port}` in PowerShell gives its process id (the last column), "
                "and Task Manager's Details tab the program")
    return f"`lsof -i :{port}`"


def mock_port_problem(endpoint: str = MOCK_ENDPOINT, platform: str = sys.platform) -> str | None:
    """None if the mock can start at `endpoint` (or already runs there); else what holds its port
    and what to do. Checked before starting, by connecting: on Windows a second server may bind a
    port that is taken, and then two programs would answer."""
    if mock_answers(endpoint):
        return None
    port = urllib.parse.urlsplit(endpoint).port or 80
    if not port_in_use(port):
        return None
    issuer = discovered_issuer(endpoint)
    if issuer is not None:
        shown = issuer if len(issuer) <= 100 and issuer.isprintable() else repr(issuer[:100])
        holder = (f"another authorization server (its issuer is {shown}; a room's mock? give it another "
                  "--port)")
    else:
        holder = "another program"
    return (f"Port {port} is taken by {holder}, so the kit's mock cannot start at {endpoint}, where the "
            f"notebooks look for it. To see what it is: {finding_what_holds(port, platform)}. Stop it, then "
            "run this again.")


def jupyter_port(arguments: list[str]) -> int:
    """The port JupyterLab is asked for: --port N, --port=N, --ServerApp.port=N, else 8888."""
    for i, word in enumerate(arguments):
        for option in ("--port", "--ServerApp.port"):
            if word.startswith(option + "="):
                value = word.split("=", 1)[1]
            elif word == option and i + 1 < len(arguments):
                value = arguments[i + 1]
            else:
                continue
            if value.isdigit():
                return int(value)
    return JUPYTER_PORT


def jupyter_port_note(port: int) -> str:
    return (f"Port {port} is taken (another JupyterLab still running?): this one takes the next free port, so "
            "open the address it prints below. The walkthrough's links to the notebooks assume "
            f"{JUPYTER_PORT} (WALKTHROUGH_NOTEBOOKS_URL in the README).")


def start_mock(endpoint: str = MOCK_ENDPOINT, platform: str = sys.platform) -> subprocess.Popen | None:
    if mock_answers(endpoint):
        print(f"Using the mock already running at {endpoint}")
        return None
    port = urllib.parse.urlsplit(endpoint).port
    mock = subprocess.Popen([sys.executable, "-m", "mock_idp", "--port", str(port)], cwd=ROOT,
                            **own_process_group(platform))
    deadline = time.monotonic() + 15
    try:
        while not mock_answers(endpoint):
            if mock.poll() is not None or time.monotonic() > deadline:
                stop_mock(mock)
                sys.exit(f"The mock could not start on port {port}: "
                         f"{mock_port_problem(endpoint, platform) or 'see above'}")
            time.sleep(0.1)
    except BaseException:  # Ctrl-C (or a stop) while it starts: it is in its own group, and never saw it
        stop_mock(mock)
        raise
    return mock


def stop_mock(mock: subprocess.Popen) -> None:
    if mock.poll() is None:
        mock.terminate()  # SIGTERM; TerminateProcess on Windows
        try:
            mock.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mock.kill()
            mock.wait()


def jupyter_command(notebooks: Path, arguments: list[str]) -> list[str]:
    # `-m jupyterlab`, not `-m jupyter lab`: `jupyter lab` runs the first jupyter-lab on PATH, which
    # may be another environment's (Anaconda's base), whose kernels have no kit.
    command = [sys.executable, "-m", "jupyterlab", "--notebook-dir", str(notebooks),
               f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}", *arguments]
    if getattr(os, "geteuid", lambda: None)() == 0:  # Windows has no geteuid
        command.append("--allow-root")  # containers and workshop VMs often run as root
    return command


def stop_jupyter(jupyter: subprocess.Popen, platform: str = sys.platform, grace: float = 10) -> None:
    """Stops JupyterLab so that it shuts its kernels down.

    POSIX: after Ctrl-C JupyterLab asks "Shutdown this Jupyter server (y/[n])?" and carries on if
    nobody answers; SIGTERM makes it shut down at once, cleanly. Windows: the console's Ctrl-C
    reached it and it is shutting down already; terminate() there is TerminateProcess (no clean-up),
    so it comes only if JupyterLab has not finished within `grace` seconds.
    """
    if jupyter.poll() is not None:
        return
    if platform != "win32":
        jupyter.terminate()
    try:
        jupyter.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    if platform == "win32":
        jupyter.terminate()
    else:
        jupyter.kill()
    try:
        jupyter.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def wait(process: subprocess.Popen) -> int:
    """process.wait(), in steps: on Windows a wait without a timeout cannot be interrupted, and
    the Ctrl-C would then arrive only once JupyterLab is gone, in the middle of stopping the mock."""
    while True:
        try:
            return process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue


def ignore_stop_signals() -> None:
    """While stopping: a second Ctrl-C (JupyterLab teaches pressing it twice) must not cut the
    clean-up short and leave the mock behind on port 4000."""
    for name in ["SIGINT", *STOP_SIGNALS]:
        try:  # a handler that does nothing, not SIG_IGN: a signal already on its way finds it
            signal.signal(getattr(signal, name), lambda *_: None)
        except (OSError, ValueError):
            pass


def stop_now(signum, frame) -> None:
    """Ctrl-C or a stop signal ends us through `finally`, which stops JupyterLab and the mock. A
    terminal closing sends SIGHUP to us and to start.py at once, and start.py passes it on as
    SIGTERM: that second signal must not raise again inside `finally` and cut it short, leaving the
    mock behind on port 4000, so the first one ignores the rest before it raises."""
    ignore_stop_signals()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    check = "--check" in arguments
    arguments = [word for word in arguments if word != "--check"]
    for name in ["SIGINT", *STOP_SIGNALS]:
        signal.signal(getattr(signal, name), stop_now)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"start.py lab: {exc}", file=sys.stderr)
        return 1
    if settings.is_mock:
        problem = mock_port_problem()
        if problem:
            print(problem, file=sys.stderr)
            return 1
    else:
        print(f"Using the Authgear project at {settings.endpoint} (from .env)")
    port = jupyter_port(arguments)
    if port_in_use(port):
        print(jupyter_port_note(port))
    notebooks = ROOT / "notebooks"
    if check:
        mock = ("the mock already running at " + MOCK_ENDPOINT if mock_answers() else "the mock at " + MOCK_ENDPOINT) \
            if settings.is_mock else "no mock"
        print(f"Ready: would start {mock} and JupyterLab ({sys.executable}) on {notebooks / FIRST_NOTEBOOK}.")
        return 0
    mock = jupyter = None
    try:
        if settings.is_mock:
            mock = start_mock()
        quiet_jupyterlab()
        print(f"JupyterLab opens on {FIRST_NOTEBOOK}: start there, and run its cells from the top (Shift-Enter).")
        print("Stop with Ctrl-C; the mock stops with it.", flush=True)
        jupyter = subprocess.Popen(jupyter_command(notebooks, arguments), cwd=ROOT)
        return wait(jupyter)
    except KeyboardInterrupt:
        return 0
    finally:
        ignore_stop_signals()
        if jupyter is not None:
            stop_jupyter(jupyter)
        if mock is not None:
            stop_mock(mock)
            say("Stopped the mock.")


if __name__ == "__main__":
    sys.exit(main())
