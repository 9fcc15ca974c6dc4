"""start.py: one way to set up and start the kit on Linux, macOS and Windows, with or without conda.

Only Linux runs here. The Windows and macOS branches are functions that take the platform as a
parameter, tested with it faked (paths, quoting, hints); stopping is tested with real processes
the way each branch does it. The whole `start.py lab` runs for real from a folder whose path has
spaces, in a network namespace of its own (`unshare -n`), so that it can have port 4000 without
taking it from anything else on the machine; JupyterLab there is a stand-in that only waits.
Nothing here downloads: environments are built from the one pytest runs in.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START = ROOT / "start.py"
WINDOWS_ROOT = r"C:\Users\Ada Lovelace\oauth kit"


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def start():
    return load("kit_start_script", START)


@pytest.fixture(scope="module")
def lab():
    return load("kit_lab_script_for_start", ROOT / "scripts" / "lab.py")


# -- the version gate ---------------------------------------------------------------------------

def test_the_minimum_is_pyprojects_requires_python(start) -> None:
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert required == ">=%d.%d" % start.MINIMUM


@pytest.mark.parametrize("platform, says", [
    ("win32", ["winget install Python.Python.3.12", "py -3.12 start.py test", "py -0", "python.org"]),
    ("darwin", ["brew install python@3.12", "python3.12 start.py test", "python.org"]),
    ("linux", ["sudo apt install python3 python3-venv", "python3.12 start.py test", "pyenv"]),
])
def test_an_old_python_is_told_what_to_install_on_its_platform(start, platform: str, says: list[str]) -> None:
    message = start.python_problem((3, 8, 18, "final", 0), platform, "/usr/bin/python3", "test")
    assert message.startswith("This kit needs Python 3.11 or newer; this is Python 3.8.18 (/usr/bin/python3).")
    for text in says + ["conda env create -f environment.yml"]:
        assert text in message, (text, message)
    assert start.python_problem((3, 11, 0, "final", 0), platform, "x") is None
    assert start.python_problem((3, 13, 1, "final", 0), platform, "x") is None


def test_main_refuses_a_faked_old_python_before_anything_else(start, monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 9, 2, "final", 0))
    monkeypatch.setattr(start, "run", lambda *a: pytest.fail("went on past the version gate"))
    assert start.main(["--venv", str(tmp_path), "test", "-x"]) == 1
    error = capsys.readouterr().err
    assert "needs Python 3.11 or newer; this is Python 3.9.2" in error and "start.py test" in error


def old_pythons() -> list[str]:
    """Interpreters older than 3.11 on this machine (pyenv's, python3.N, python2)."""
    found = {}
    candidates = sorted(Path.home().glob(".pyenv/versions/*/bin/python"))
    candidates += [Path(p) for p in (shutil.which(f"python3.{minor}") for minor in range(6, 11)) if p]
    candidates += [Path(p) for p in (shutil.which("python2.7"), shutil.which("python2")) if p]
    for candidate in candidates:
        try:
            old = subprocess.run([str(candidate), "-c", "import sys; sys.exit(0 if sys.version_info < (3, 11) else 1)"],
                                 capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            continue
        if old:
            found.setdefault(os.path.realpath(candidate), str(candidate))
    return sorted(found.values())


def test_old_pythons_get_the_message_not_a_syntax_error() -> None:
    pythons = old_pythons()
    if not pythons:
        pytest.skip("no Python older than 3.11 on this machine (the syntax check below still runs)")
    for python in pythons:
        ran = subprocess.run([python, str(START), "lab"], capture_output=True, text=True, timeout=60)
        assert ran.returncode == 1, (python, ran.stdout, ran.stderr)
        assert "This kit needs Python 3.11 or newer" in ran.stderr and "Traceback" not in ran.stderr, (python, ran.stderr)


def test_start_py_parses_on_old_pythons_and_uses_only_the_standard_library() -> None:
    """What old interpreters cannot parse would give them a SyntaxError instead of the message."""
    source = START.read_text()
    assert source.isascii(), "start.py: ASCII only (Python 2 reads source as ASCII; Windows consoles print it)"
    tree = ast.parse(source)
    too_new = []
    for node in ast.walk(tree):
        kind = type(node).__name__
        if kind in ("JoinedStr", "AnnAssign", "NamedExpr", "Match", "Nonlocal", "YieldFrom", "Await",
                    "AsyncFunctionDef", "AsyncFor", "AsyncWith"):
            too_new.append(f"line {node.lineno}: {kind}")
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            arguments = node.args
            if arguments.kwonlyargs or arguments.posonlyargs or any(
                    a.annotation for a in arguments.args + [arguments.vararg, arguments.kwarg] if a):
                too_new.append(f"line {node.lineno}: keyword-only, positional-only or annotated arguments")
            if isinstance(node, ast.FunctionDef) and node.returns:
                too_new.append(f"line {node.lineno}: a return annotation")
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)) and any(isinstance(e, ast.Starred) for e in node.elts):
            too_new.append(f"line {node.lineno}: * in a literal or an assignment")
        elif isinstance(node, ast.Dict) and None in node.keys:
            too_new.append(f"line {node.lineno}: ** in a dict literal")
        elif isinstance(node, ast.Call) and sum(isinstance(a, ast.Starred) for a in node.args) > 1:
            too_new.append(f"line {node.lineno}: two * in one call")
        elif isinstance(node, ast.Raise) and node.cause is not None:
            too_new.append(f"line {node.lineno}: raise ... from")
        elif isinstance(node, ast.ImportFrom) and node.module == "__future__":
            assert [a.name for a in node.names] == ["print_function"], "only print_function: Python 2 knows it"
    assert too_new == []
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported - set(sys.stdlib_module_names)
    top = {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    assert top <= {"hashlib", "json", "os", "signal", "subprocess", "sys"}, "imports at the top run on Python 2.7 too"
    for python in old_pythons():  # the real parsers, where there are some
        compiled = subprocess.run([python, "-c", "import sys; compile(open(sys.argv[1]).read(), 'start.py', 'exec')",
                                   str(START)], capture_output=True, text=True, timeout=60)
        assert compiled.returncode == 0, (python, compiled.stderr)


# -- paths and platforms ------------------------------------------------------------------------

def test_the_virtual_environments_python_on_each_platform(start) -> None:
    assert start.venv_python(WINDOWS_ROOT + r"\.venv", "win32") == WINDOWS_ROOT + r"\.venv\Scripts\python.exe"
    for platform in ("linux", "darwin"):
        assert start.venv_python("/Users/ada/oauth kit/.venv", platform) == "/Users/ada/oauth kit/.venv/bin/python"
    assert [start.python_command(p) for p in ("win32", "darwin", "linux")] == ["py", "python3", "python3"]


def test_which_environment(start) -> None:
    def choose(prefix, base, platform="linux", root="/home/ada/oauth kit", option=None, dirs=()):
        return start.choose_environment(root, option, prefix, base, prefix + "/bin/python3", platform,
                                        isdir=lambda path: path in dirs)

    system = choose("/usr", "/usr")
    assert system == {"kind": "venv", "path": "/home/ada/oauth kit/.venv",
                      "python": "/home/ada/oauth kit/.venv/bin/python", "ours": True}
    assert choose("/home/ada/oauth kit/.venv", "/usr") == system  # run with .venv's own Python
    active = choose("/home/ada/venvs/course", "/usr")
    assert (active["kind"], active["path"], active["ours"]) == ("active venv", "/home/ada/venvs/course", False)
    assert active["python"] == "/home/ada/venvs/course/bin/python3"  # the one running start.py
    env = "/opt/conda/envs/authgear-oauth-kit"
    conda = choose(env, env, dirs={env + "/conda-meta"})
    assert (conda["kind"], conda["path"], conda["ours"]) == ("conda", env, False)
    base = choose("/opt/conda", "/opt/conda", dirs={"/opt/conda/conda-meta", "/opt/conda/condabin"})
    assert base == system  # conda's base: the kit gets a .venv of its own, made from base's Python
    chosen = choose("/home/ada/venvs/course", "/usr", option="../other env")
    assert chosen == {"kind": "venv", "path": "/home/ada/other env", "python": "/home/ada/other env/bin/python", "ours": True}
    windows = start.choose_environment(WINDOWS_ROOT, None, WINDOWS_ROOT.lower() + r"\.venv", r"C:\Python312",
                                       "x", "win32", isdir=lambda path: False)
    assert windows["path"] == WINDOWS_ROOT + r"\.venv" and windows["ours"]  # Windows paths ignore case
    assert windows["python"] == WINDOWS_ROOT + r"\.venv\Scripts\python.exe"


def test_a_venv_made_on_the_other_system_is_named(start) -> None:
    there = {"/k/.venv/Scripts/python.exe"}
    assert start.foreign_layout("/k/.venv", "linux", exists=lambda p: p in there)
    assert not start.foreign_layout("/k/.venv", "linux", exists=lambda p: False)
    assert start.foreign_layout(r"C:\k\.venv", "win32", exists=lambda p: p == r"C:\k\.venv\bin\python")


def test_commands_are_shown_as_each_shell_takes_them(start) -> None:
    outside = r"C:\Program Files\Python312\python.exe"
    windows = start.shown([WINDOWS_ROOT + r"\.venv\Scripts\python.exe", "-m", "pip", "install", "-e", ".[test]"],
                          "win32", WINDOWS_ROOT)
    assert windows == r".venv\Scripts\python.exe -m pip install -e .[test]"
    assert start.shown([outside, "-m", "venv", WINDOWS_ROOT + r"\.venv"], "win32", WINDOWS_ROOT) == (
        r'"C:\Program Files\Python312\python.exe" -m venv .venv')
    assert start.shown(["/opt/my python/bin/python3", "-m", "venv", "/home/ada/kit/.venv"], "linux", "/home/ada/kit") == (
        "'/opt/my python/bin/python3' -m venv .venv")


# -- what gets installed ------------------------------------------------------------------------

def found(**changes) -> dict:
    base = {"python": [3, 11, 7], "pip": "24.0", "missing": [], "build_missing": [], "kit": "current"}
    return {**base, **changes}


OURS = {"kind": "venv", "path": "/k/.venv", "python": "/k/.venv/bin/python", "ours": True}
CONDA = {"kind": "conda", "path": "/opt/conda/envs/authgear-oauth-kit", "python": "/opt/conda/envs/authgear-oauth-kit/bin/python", "ours": False}


def test_install_steps(start) -> None:
    steps = start.install_steps
    fresh = found(missing=["jupyterlab>=4.1 (not installed)"], build_missing=["setuptools>=68 (65.5.0 installed)"],
                  kit="not installed")
    assert steps(fresh, "lab", OURS, "/k") == [
        (["-m", "pip", "install", "--quiet", "--upgrade", "pip"], False),
        (["-m", "pip", "install", "--progress-bar", "on", "-e", "."], True)]
    assert steps(fresh, "test", OURS, "/k")[-1] == (["-m", "pip", "install", "--progress-bar", "on", "-e", ".[test]"], True)
    # conda env create -f environment.yml: every requirement, setuptools>=68, not the kit: the kit alone, offline.
    assert steps(found(kit="not installed"), "lab", CONDA, "/k") == [
        (["-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", "."], True)]
    assert steps(found(kit="installed from an older pyproject.toml (other entry points)",
                       build_missing=["setuptools>=68 (not installed)"]), "lab", OURS, "/k") == [
        (["-m", "pip", "install", "--no-deps", "-e", "."], True)]
    assert steps(found(), "test", CONDA, "/k") == []
    assert steps(found(pip=None, missing=["x"]), "lab", OURS, "/k")[0] == (["-m", "ensurepip", "--upgrade"], True)
    with pytest.raises(start.Refusal, match="conda install pip"):
        steps(found(pip=None), "lab", CONDA, "/k")
    with pytest.raises(start.Refusal, match=r"pip 20\.0 .* too old"):
        steps(found(pip="20.0"), "lab", CONDA, "/k")
    with pytest.raises(start.Refusal, match=r"made with Python 3\.10\.4; .* Delete the folder \.venv/"):
        steps(found(python=[3, 10, 4]), "lab", OURS, "/k")


def test_the_learners_setup_leaves_the_test_tools_out(start) -> None:
    for state in (found(missing=["x"]), found(kit="not installed"), found(pip=None, missing=["x"])):
        for arguments, _ in start.install_steps(state, "lab", OURS, "/k"):
            assert not any("[test]" in word for word in arguments)
    learner = start.probe_input(start.read_project(str(ROOT)), "lab", str(ROOT))
    assert "pytest>=8" not in learner["requires"] and "jupyterlab>=4.1" in learner["requires"]
    assert "pytest>=8" in start.probe_input(start.read_project(str(ROOT)), "test", str(ROOT))["requires"]


def installed_metadata_is_current(project: dict) -> bool:
    """Worked out here independently of the probe: pip's record of the kit matches pyproject.toml."""
    def normal(requirement: str) -> str:
        return re.sub(r"\s+", "", requirement).replace("'", '"').lower()

    dist = importlib.metadata.distribution(project["name"])
    expected = [normal(r) for r in project["requires"]]
    expected += [normal(f'{r}; extra == "{e}"') for e, rs in project["extras"].items() for r in rs]
    points = sorted([ep.group, ep.name, ep.value] for ep in dist.entry_points)
    return sorted(normal(r) for r in dist.requires or []) == sorted(expected) and points == project["entry_points"]


def test_the_probe_reads_the_environment_pytest_runs_in(start, tmp_path: Path) -> None:
    project = start.read_project(str(ROOT))
    assert project["packages"] == ["kit", "mock_idp", "walkthrough"]
    data = start.probe_input(project, "test", str(ROOT))
    answer = start.probe(sys.executable, data, str(tmp_path))
    assert answer["python"][:2] == list(sys.version_info[:2])
    assert answer["missing"] == []  # pytest runs: what pyproject.toml asks for is here
    if installed_metadata_is_current(project):
        assert answer["kit"] == "current"
    else:  # this environment was set up before pyproject.toml last changed
        assert answer["kit"].startswith("installed from an older pyproject.toml"), answer["kit"]
    data["requires"] = ["pytest>=999", "no-such-distribution-for-the-kit>=1", "pyjwt[crypto]>=2.8"]  # crypto: met
    assert start.probe(sys.executable, data, str(tmp_path))["missing"] == [
        f"pytest>=999 ({importlib.metadata.version('pytest')} installed)",
        "no-such-distribution-for-the-kit>=1 (not installed)"]
    other = start.probe(sys.executable, {**data, "root": str(tmp_path)}, str(tmp_path))
    assert other["kit"].startswith("installed from ")  # the kit here comes from another folder


def test_the_stamp_follows_pyproject_and_the_folder(start, tmp_path: Path) -> None:
    root = tmp_path / "kit"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "k"\n')
    env = {"path": str(tmp_path / "env"), "ours": True}
    os.mkdir(env["path"])
    assert not start.is_set_up(env, "lab", str(root))
    start.write_stamp(env, "lab", str(root))
    assert start.is_set_up(env, "lab", str(root)) and not start.is_set_up(env, "test", str(root))
    start.write_stamp(env, "test", str(root))
    assert start.is_set_up(env, "test", str(root))
    other = tmp_path / "other clone"
    shutil.copytree(root, other)
    assert not start.is_set_up(env, "lab", str(other))  # one environment, two clones: check again
    (root / "pyproject.toml").write_text('[project]\nname = "k"\nversion = "2"\n')
    assert not start.is_set_up(env, "lab", str(root)) and not start.is_set_up(env, "test", str(root))


def test_what_test_sets_up_before_pytest_on_each_platform(start) -> None:
    def which_from(*names):
        return lambda name: f"/usr/bin/{name}" if name in names else None

    debian = start.test_tool_steps("linux", which_from("bash", "apt-get", "npm"), "/k")
    assert [command for _, command, _ in debian] == [
        ["/usr/bin/bash", "/k/scripts/install-browser.sh"], ["/usr/bin/bash", "/k/scripts/install-test-tools.sh"]]
    mac = start.test_tool_steps("darwin", which_from("bash", "npm"), "/k", exists=lambda p: False)
    assert mac[0][1] is None and "apt-get" in mac[0][2] and "fail without it" in mac[0][2]
    assert mac[1][1] == ["/usr/bin/bash", "/k/scripts/install-test-tools.sh"]
    no_npm = start.test_tool_steps("linux", which_from("bash", "apt-get"), "/k")
    assert no_npm[1][1] is None and "Node.js 20" in no_npm[1][2]  # said and skipped, not a refusal
    windows = start.test_tool_steps("win32", which_from("bash", "npm"), "/k")  # bash.exe may be WSL's: not used
    assert [command for _, command, _ in windows] == [None, None] and all("WSL" in why for _, _, why in windows)


@pytest.mark.parametrize("command, fetches, runs_pytest", [
    ("setup", False, False), ("setup-test", True, False), ("test", True, True)])
def test_setup_test_fetches_what_test_does_and_runs_nothing(start, monkeypatch, command: str, fetches: bool,
                                                           runs_pytest: bool) -> None:
    """After `setup-test` the suite runs offline: it installs the browser and the npm packages as
    `test` does, then stops; `setup` (the learner's) installs neither."""
    done: list[object] = []
    monkeypatch.setattr(start, "ensure", lambda env, level, platform, root: done.append(("ensure", level)) or "py")
    monkeypatch.setattr(start, "install_test_tools", lambda platform, root: done.append("test tools"))
    monkeypatch.setattr(start, "run_child", lambda command, root, platform: done.append(command[1:3]) or 0)
    assert start.run([command], "linux", root=str(ROOT)) == 0
    assert done[0] == ("ensure", "lab" if command == "setup" else "test")
    assert ("test tools" in done) is fetches
    assert (["-m", "pytest"] in done) is runs_pytest


# -- stopping -----------------------------------------------------------------------------------

def test_the_mock_is_kept_from_the_terminals_ctrl_c_on_each_platform(lab) -> None:
    assert lab.own_process_group("linux") == {"start_new_session": True}
    assert lab.own_process_group("darwin") == {"start_new_session": True}
    assert lab.own_process_group("win32") == {"creationflags": 0x200}  # CREATE_NEW_PROCESS_GROUP


CHILD = textwrap.dedent("""
    import signal, sys, time
    behaviour = sys.argv[1]
    if behaviour == "asks":   # JupyterLab on POSIX after Ctrl-C: asks "Shut down?", carries on
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(5))
    elif behaviour == "stops":  # JupyterLab on Windows after the console's Ctrl-C: already stopping
        time.sleep(0.5)
        sys.exit(7)
    elif behaviour == "stuck":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(60)
""")


def child(behaviour: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", CHILD, behaviour], stdout=subprocess.PIPE, text=True)
    if behaviour != "stops":
        assert process.stdout.readline() == "ready\n"
    return process


def test_posix_stops_jupyterlab_with_sigterm_which_shuts_its_kernels_down(lab) -> None:
    process = child("asks")
    began = time.monotonic()
    lab.stop_jupyter(process, "linux", grace=10)
    assert process.returncode == 5 and time.monotonic() - began < 5
    stuck = child("stuck")
    stuck.send_signal(signal.SIGINT)
    lab.stop_jupyter(stuck, "linux", grace=0.5)
    assert stuck.returncode == -signal.SIGTERM  # SIGTERM's default: the kill was not needed


def test_windows_lets_jupyterlab_finish_its_own_ctrl_c_then_terminates(lab) -> None:
    """The Windows branch, on real processes: terminate() is TerminateProcess there, so it waits."""
    stopping = child("stops")
    lab.stop_jupyter(stopping, "win32", grace=10)
    assert stopping.returncode == 7  # it ended by itself: not terminated
    stuck = child("stuck")
    began = time.monotonic()
    lab.stop_jupyter(stuck, "win32", grace=0.5)
    assert stuck.returncode == -signal.SIGTERM and 0.5 <= time.monotonic() - began < 5


def test_jupyterlab_is_this_environments_and_runs_without_geteuid(lab, monkeypatch) -> None:
    monkeypatch.delattr(os, "geteuid", raising=False)  # Windows
    command = lab.jupyter_command(Path("/k/my notebooks"), ["--no-browser"])
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]  # not the first jupyter-lab on PATH
    assert command[3:5] == ["--notebook-dir", "/k/my notebooks"] and "--allow-root" not in command
    assert command[-1] == "--no-browser"
    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    assert lab.jupyter_command(Path("/k"), [])[-1] == "--allow-root"
    assert [lab.jupyter_port(a) for a in ([], ["--port", "8890"], ["--port=8891"], ["--ServerApp.port=8892"])] == [
        8888, 8890, 8891, 8892]


WAIT_THEN_EXIT = textwrap.dedent("""
    import signal, sys, time
    def stop(signum, frame):
        time.sleep(1)  # cleaning up, as scripts/lab.py does
        open(sys.argv[1], "w").write(signal.Signals(signum).name)
        sys.exit(3)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    time.sleep(60)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("platform, sent, to_group", [
    ("linux", "SIGINT", True),    # Ctrl-C: the terminal's whole foreground process group
    ("win32", "SIGINT", True),    # the Windows branch: the console's Ctrl-C reaches every process in it
    ("linux", "SIGTERM", False),  # start.py alone (Windows has no such signal between processes)
])
def test_start_py_waits_for_what_it_runs_to_stop(tmp_path: Path, platform: str, sent: str, to_group: bool) -> None:
    """start.py waits while its child cleans up, then exits with the child's code; a SIGTERM sent
    to start.py alone is passed on."""
    marker = tmp_path / "stopped by"
    runner = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import start; "
              f"sys.exit(start.run_child([sys.executable, '-c', {WAIT_THEN_EXIT!r}, {str(marker)!r}], '.', {platform!r}))")
    process = subprocess.Popen([sys.executable, "-c", runner], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout.readline() == "ready\n"
    if to_group:
        os.killpg(process.pid, getattr(signal, sent))
    else:
        process.send_signal(getattr(signal, sent))
    assert process.wait(timeout=20) == 3, "start.py did not wait for its child, or lost its exit code"
    assert marker.read_text() == sent


# -- ports --------------------------------------------------------------------------------------

class Answer(BaseHTTPRequestHandler):
    body = b"not found"

    def do_GET(self):  # noqa: N802
        found = self.path == "/.well-known/openid-configuration" and self.server.issuer
        body = json.dumps({"issuer": self.server.issuer}).encode() if found else b"no"
        self.send_response(200 if found else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def other_server(issuer: str | None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.issuer = issuer
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_taken_mock_port_is_explained_on_each_platform(lab) -> None:
    server = other_server(None)
    port = server.server_address[1]
    try:
        endpoint = f"http://localhost:{port}"
        linux = lab.mock_port_problem(endpoint, "linux")
        assert linux.startswith(f"Port {port} is taken by another program, so the kit's mock cannot start at {endpoint}")
        assert f"`lsof -i :{port}`" in linux
        windows = lab.mock_port_problem(endpoint, "win32")
        assert f"`netstat -ano | findstr :{port}` in PowerShell" in windows and "Task Manager" in windows
        server.issuer = "http://classroom-pc.local:4000"
        assert "another authorization server (its issuer is http://classroom-pc.local:4000; a room's mock?" in \
            lab.mock_port_problem(endpoint, "linux")
        server.issuer = endpoint  # the kit's mock already there: used, no problem
        assert lab.mock_port_problem(endpoint, "linux") is None
    finally:
        server.shutdown()
        server.server_close()
    assert lab.mock_port_problem(endpoint, "linux") is None  # free
    assert "takes the next free port" in lab.jupyter_port_note(8888)


# -- real runs: a populated environment, and start.py lab stopped with Ctrl-C -------------------

def populated_env(where: Path, with_kit: bool, extra_paths: list[Path] = ()) -> Path:
    """A virtual environment made from the one pytest runs in: its site-packages entries linked
    in (the same requirements, installed from the same list), with or without the kit's own
    install. No pip runs, nothing downloads."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        is_kit = entry.name.startswith(("authgear_oauth_kit", "__editable__.authgear_oauth_kit",
                                        "__editable___authgear_oauth_kit"))
        if (with_kit or not is_kit) and not (site / entry.name).exists():
            (site / entry.name).symlink_to(entry)
    if extra_paths:
        (site / "000-kit-test-paths.pth").write_text("".join(f"{p}\n" for p in extra_paths))
    return python


def in_new_network_namespace() -> list[str] | None:
    """`unshare` options that give a process a loopback of its own (ports 4000 and 8888 free
    whatever else runs here), or None."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return None
    for options in (["-n"], ["-rn"]):
        try:
            if subprocess.run(["unshare", *options, "true"], capture_output=True, timeout=20).returncode == 0:
                return ["unshare", *options]
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def test_the_conda_route_uses_the_active_environment_and_installs_the_kit_alone(start, tmp_path: Path) -> None:
    """As after `conda env create -f environment.yml` and `conda activate`: an environment with
    every requirement and no kit. `start.py lab --check` picks it, not .venv/, and would install
    the kit alone there (`pip install --no-deps -e .`, environment.yml's own instruction)."""
    python = populated_env(tmp_path / "kit env", with_kit=False)
    venv_before = sorted(p.name for p in (ROOT / ".venv").iterdir()) if (ROOT / ".venv").is_dir() else None
    ran = subprocess.run([str(python), str(START), "lab", "--check"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == f"Using the active virtual environment {tmp_path / 'kit env'} (for the kit's own .venv/ " \
                       "instead, deactivate it first or pass --venv .venv)"
    assert "The kit there: not installed" in lines and "Missing there" not in ran.stdout
    assert re.search(r"^Would run: '.*/kit env/bin/python' -m pip install --no-deps (--no-build-isolation )?-e \.$",
                     ran.stdout, re.MULTILINE), ran.stdout
    assert (sorted(p.name for p in (ROOT / ".venv").iterdir()) if (ROOT / ".venv").is_dir() else None) == venv_before


def test_a_set_up_environment_is_used_as_it_is(start, tmp_path: Path) -> None:
    """The same with the kit installed too (the stamp says so): lab --check runs scripts/lab.py's
    check with that environment's Python."""
    unshare = in_new_network_namespace()
    if unshare is None:
        pytest.skip("needs `unshare -n` (Linux) for ports 4000 and 8888 of its own")
    where = tmp_path / "kit env"
    python = populated_env(where, with_kit=True)
    start.write_stamp({"path": str(where)}, "lab", str(ROOT))
    ran = subprocess.run([*unshare, str(python), str(START), "lab", "--check"], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "KIT_ENV_FILE": os.devnull})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.splitlines()[0].startswith(f"Using the active virtual environment {where} ")
    assert f"Ready: would start the mock at http://localhost:4000 and JupyterLab ({python})" in ran.stdout


# Runs inside the new network namespace: brings its loopback up, starts the command in a session
# of its own with a terminal on stdin (as a learner's), waits until it is ready, sends the signal,
# waits, and reports which processes of the namespace are left and whether the ports are free.
DRIVER = textwrap.dedent(r"""
    import fcntl, json, os, pty, signal, socket, struct, subprocess, sys, time, urllib.request

    def loopback_up():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, struct.pack("16sH", b"lo", 0))[:18])[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP

    def answers(url):
        try:
            urllib.request.urlopen(url, timeout=1)
            return True
        except Exception as exc:
            return getattr(exc, "code", None) is not None

    def here():
        # {pid: command line} of the processes in this network namespace, but this one
        mine, left = os.readlink("/proc/self/ns/net"), {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if int(pid) == os.getpid() or os.readlink(f"/proc/{pid}/ns/net") != mine:
                    continue
                if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
                left[int(pid)] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
        return left

    def free(port):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False

    spec = json.loads(sys.argv[1])
    loopback_up()
    held = []
    for port in spec.get("hold", []):
        sock = socket.socket()
        sock.bind(("127.0.0.1", port))
        sock.listen()
        held.append(sock)
    _, terminal = pty.openpty()
    with open(spec["log"], "w") as log:
        child = subprocess.Popen(spec["command"], start_new_session=True, stdin=terminal, stdout=log,
                                 stderr=subprocess.STDOUT, env=spec["env"])
    report = {"ready": False}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if all(answers(u) for u in spec["urls"]) and all(os.path.exists(f) for f in spec["files"]):
            report["ready"] = True
            break
        time.sleep(0.1)
    report["running"] = list(here().values())
    if child.poll() is None and spec.get("signal"):
        sent = getattr(signal, spec["signal"])
        os.killpg(child.pid, sent) if spec["to_group"] else child.send_signal(sent)
    try:
        report["returncode"] = child.wait(timeout=40)
    except subprocess.TimeoutExpired:
        report["returncode"] = "still running"
        os.killpg(child.pid, signal.SIGKILL)
    for sock in held:
        sock.close()
    time.sleep(0.2)
    left = here()
    report["left"] = list(left.values())
    report["free"] = [port for port in (4000, 8888) if free(port)]
    for pid in left:  # what a failing run left: the test says so, and nothing stays behind
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    print(json.dumps(report))
""")

# Stands in for JupyterLab (`python -m jupyterlab`, found first on PYTHONPATH): says where it runs
# and with what, then waits. Like JupyterLab with a terminal, Ctrl-C alone does not stop it.
FAKE_JUPYTERLAB = textwrap.dedent("""
    import json, os, signal, sys, time
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(os.environ["FAKE_JUPYTERLAB_RECORD"], "w") as record:
        json.dump({"argv": sys.argv[1:], "python": sys.executable, "cwd": os.getcwd()}, record)
    while True:
        time.sleep(1)
""")


@pytest.fixture(scope="module")
def kit_in_a_folder_with_spaces(tmp_path_factory, start) -> dict:
    """A copy of the kit in a folder whose path has spaces, its environment in another one, set
    up (stamped) the way `start.py setup` leaves it, and a stand-in for JupyterLab."""
    unshare = in_new_network_namespace()
    if unshare is None:
        pytest.skip("needs `unshare -n` (Linux) for ports 4000 and 8888 of its own")
    base = tmp_path_factory.mktemp("start") / "Ada's oauth kit"
    root = base / "the kit"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("kit", "mock_idp", "scripts"):
        shutil.copytree(ROOT / name, root / name, ignore=ignore)
    for name in ("start.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, root / name)
    (root / "notebooks").mkdir()
    env = base / "kit env"
    populated_env(env, with_kit=False, extra_paths=[root])  # the kit importable from the copy
    start.write_stamp({"path": str(env)}, "lab", str(root))
    fake = base / "fake jupyterlab" / "jupyterlab"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(FAKE_JUPYTERLAB)
    driver = base / "driver.py"
    driver.write_text(DRIVER)
    return {"unshare": unshare, "root": root, "env": env, "fake": fake.parent, "driver": driver, "base": base}


def run_lab(kit: dict, name: str, signal_name: str | None, to_group: bool = True, hold: list[int] = ()) -> tuple[dict, str, dict | None]:
    record = kit["base"] / f"{name}.json"
    log = kit["base"] / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": str(kit["fake"]), "KIT_ENV_FILE": os.devnull,
           "FAKE_JUPYTERLAB_RECORD": str(record)}
    python = getattr(sys, "_base_executable", sys.executable)  # a learner's python3, not a venv's
    spec = {"command": [python, str(kit["root"] / "start.py"), "--venv", str(kit["env"]), "lab"],
            "env": env, "log": str(log), "signal": signal_name, "to_group": to_group, "hold": list(hold),
            "urls": ["http://localhost:4000/.well-known/openid-configuration"], "files": [str(record)]}
    ran = subprocess.run([*kit["unshare"], sys.executable, str(kit["driver"]), json.dumps(spec)],
                         capture_output=True, text=True, timeout=150)
    assert ran.returncode == 0, ran.stderr
    started = json.loads(record.read_text()) if record.exists() else None
    return json.loads(ran.stdout), log.read_text(), started


@pytest.mark.parametrize("signal_name, to_group", [
    ("SIGINT", True),    # Ctrl-C in the terminal
    ("SIGHUP", True),    # the terminal closed
    ("SIGTERM", False),  # a process manager, `timeout`: start.py alone
])
def test_start_py_lab_stops_jupyterlab_and_the_mock(kit_in_a_folder_with_spaces, signal_name: str, to_group: bool) -> None:
    kit = kit_in_a_folder_with_spaces
    report, log, started = run_lab(kit, signal_name, signal_name, to_group)
    assert report["ready"], log
    running = " | ".join(report["running"])
    assert "scripts/lab.py" in running and "-m mock_idp --port 4000" in running and "-m jupyterlab" in running
    assert started["python"] == str(kit["env"] / "bin" / "python")  # the environment's, under a path with spaces
    assert started["argv"][:2] == ["--notebook-dir", str(kit["root"] / "notebooks")]
    assert started["cwd"] == str(kit["root"])
    assert report["returncode"] == 0, log
    assert report["left"] == [], f"left running after {signal_name}: {report['left']}\n{log}"
    assert report["free"] == [4000, 8888]
    assert "Stopped the mock." in log and "Traceback" not in log


def test_start_py_lab_says_what_holds_port_4000_and_starts_nothing(kit_in_a_folder_with_spaces) -> None:
    report, log, started = run_lab(kit_in_a_folder_with_spaces, "taken", None, hold=[4000])
    assert report["returncode"] == 1 and started is None and report["left"] == []
    assert "Port 4000 is taken by another program, so the kit's mock cannot start at http://localhost:4000" in log
    assert "`lsof -i :4000`" in log and "Traceback" not in log


# -- the README's commands ----------------------------------------------------------------------

def test_the_readme_starts_with_two_commands_and_a_table_for_each_kind_of_machine() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [line.split("#")[0].strip() for line in lines[1:6] if line.startswith("    ")]
    assert commands == ["python3 start.py lab", "python3 start.py test"]
    table = [line for line in lines[5:12] if line.startswith("| ")]
    rows = {row.split("|")[1].strip(): row for row in table}
    assert {"Linux, macOS", "Windows (PowerShell)"} <= rows.keys() and any(k.startswith("conda") for k in rows)
    assert "`py start.py lab`" in rows["Windows (PowerShell)"] and "`py start.py test`" in rows["Windows (PowerShell)"]
    conda = next(row for key, row in rows.items() if key.startswith("conda"))
    name = re.search(r"^name:\s*(\S+)", (ROOT / "environment.yml").read_text(), re.MULTILINE).group(1)
    assert "`conda env create -f environment.yml`" in conda and f"`conda activate {name}`" in conda
    assert "`python start.py lab`" in conda  # conda's environment has `python`, and start.py installs into it
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [commands[1]], "CI runs the README's test command"


def test_a_venv_whose_python_is_gone_is_not_trusted(start, tmp_path) -> None:
    """The stamp records the Python; a venv made by a Python that was upgraded or removed is
    checked again, and made again, instead of failing later with ModuleNotFoundError."""
    import json
    import os

    env_dir = tmp_path / "env"
    (env_dir / "bin").mkdir(parents=True)
    gone = tmp_path / "old-python"
    gone.mkdir()
    (env_dir / "pyvenv.cfg").write_text(f"home = {gone}\nversion = 3.11.0\n")
    python = env_dir / "bin" / "python"
    python.symlink_to(os.path.realpath(__import__("sys").executable))
    env = {"path": str(env_dir), "python": str(python), "ours": True}
    assert start.interpreter_alive(env)
    gone.rmdir()  # the Python that made the venv is uninstalled
    assert not start.interpreter_alive(env)
    # A stamp written for another Python does not count either.
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    content = start.stamp_content(str(tmp_path), env)
    assert content["python"] == os.path.normcase(os.path.realpath(str(python)))
    assert json.loads(json.dumps(content)) != start.stamp_content(str(tmp_path))
