#!/usr/bin/env python3
"""Set up and start the kit, the same way on Linux, macOS and Windows, with or without conda.

    python3 start.py lab       set up, then start the bundled mock and JupyterLab on the notebooks
    python3 start.py test      set up (test tools, browser), then run every test; arguments go to pytest

On Windows type `py` instead of `python3`; in an activated conda environment, `python`.
`python3 start.py help` lists every command (setup, setup-test, mock, room, walkthrough, bench).
The Makefile's targets run this file, so `make lab` and `python3 start.py lab` are one path.

Where it installs: into the active virtual environment or conda environment if there is one (the
conda route: conda env create -f environment.yml, conda activate authgear-oauth-kit, python
start.py lab), else into .venv/ next to this file, made with the Python that runs this file.
`--venv PATH` picks a virtual environment explicitly. A stamp file in the environment
(.kit-installed) remembers which pyproject.toml was installed there, so the next run starts at
once; when it is missing or old, the environment is asked what it lacks and pip installs only that.

Only the standard library: this runs before anything is installed. It also parses on old Pythons
(2.7, 3.6 ...; no f-strings, annotations or keyword-only arguments, ASCII only) so that they get
a clear "install Python 3.11" instead of a SyntaxError; tests/test_start.py checks that.
"""

from __future__ import print_function

import hashlib
import json
import os
import signal
import subprocess
import sys

MINIMUM = (3, 11)  # pyproject.toml's requires-python (tests/test_start.py checks they agree)
ROOT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VENV = ".venv"
STAMP = ".kit-installed"  # in the environment's folder; STAMP + "-test" once the test tools are in too
OLDEST_PIP = (21, 3)  # editable installs of a pyproject.toml-only project (PEP 660)
COMMANDS = ("lab", "test", "setup", "setup-test", "mock", "room", "walkthrough", "bench")

USAGE = """usage: {python} start.py [--venv PATH] COMMAND [ARGUMENTS]

  lab           set up, then start the bundled mock and JupyterLab on notebooks/01-setup.ipynb
                (arguments go to JupyterLab, e.g. --no-browser --port 8890; --check says what it
                would do, installs and starts nothing)
  test          set up with the test tools (and on Debian/Ubuntu chromium and the npm packages the
                browser tests load), then run pytest; arguments go to pytest
  setup         install what the notebooks need, start nothing
  setup-test    install that and everything the tests need (as test does), run nothing: after it
                the suite runs offline
  mock          set up, then run the bundled mock alone (arguments go to python -m mock_idp)
  room          set up, then run one mock for a whole room (python -m mock_idp --room ARGUMENTS)
  walkthrough   set up, then run the walkthrough app (arguments go to python -m walkthrough)
  bench         set up with the test tools, then run benchmarks/run_all.py

  --venv PATH   the virtual environment to use (made if missing); default: the active virtual
                or conda environment, else .venv/ next to start.py
"""


class Refusal(Exception):
    """Something the learner has to fix; the message says how."""


def say(text=""):
    """A line for the learner, in order with what the commands we run print after it."""
    try:
        print(text)
        sys.stdout.flush()
    except (IOError, OSError, ValueError):  # the terminal is gone: nobody to tell
        pass


def warn(text):
    try:
        print(text, file=sys.stderr)
        sys.stderr.flush()
    except (IOError, OSError, ValueError):
        pass


# -- which Python -----------------------------------------------------------------------------

def python_command(platform):
    """How a learner on `platform` types Python: `py` (the launcher python.org installs on
    Windows), `python3` elsewhere (macOS has no `python` command)."""
    return "py" if platform == "win32" else "python3"


def python_problem(version_info, platform, executable, command="lab"):
    """None if this Python can run the kit; else what to install instead, for this platform."""
    if tuple(version_info[:2]) >= MINIMUM:
        return None
    have = ".".join(str(part) for part in version_info[:3])
    need = "%d.%d" % MINIMUM
    lines = ["This kit needs Python %s or newer; this is Python %s (%s)." % (need, have, executable)]
    if platform == "win32":
        lines += [
            "Install Python 3.12 from https://www.python.org/downloads/windows/ (or: winget install Python.Python.3.12),",
            "then, in a new PowerShell window:  py -3.12 start.py %s   (py -0 lists the Pythons you have)" % command,
        ]
    elif platform == "darwin":
        lines += [
            "Install Python 3.12 from https://www.python.org/downloads/macos/ or with Homebrew (brew install python@3.12),",
            "then:  python3.12 start.py %s" % command,
        ]
    else:
        lines += [
            "Install Python %s or newer: Debian 12 and Ubuntu 24.04 have it (sudo apt install python3 python3-venv);" % need,
            "elsewhere use https://www.python.org/downloads/, pyenv (pyenv install 3.12) or your distribution's python3.12,",
            "then:  python3.12 start.py %s   (or python3.11)" % command,
        ]
    lines.append("Or with conda: conda env create -f environment.yml, conda activate authgear-oauth-kit, "
                 "then python start.py %s" % command)
    return "\n".join(lines)


# -- where to install -------------------------------------------------------------------------

def path_module(platform):
    """os.path for `platform`, so that Windows paths can be built and tested anywhere."""
    if platform == "win32":
        import ntpath
        return ntpath
    import posixpath
    return posixpath


def venv_python(venv, platform):
    """The Python of a virtual environment: Scripts\\python.exe on Windows, bin/python elsewhere."""
    paths = path_module(platform)
    if platform == "win32":
        return paths.join(venv, "Scripts", "python.exe")
    return paths.join(venv, "bin", "python")


def other_systems_python(venv, platform):
    """Where a virtual environment made on the other kind of system has its Python."""
    paths = path_module(platform)
    if platform == "win32":
        return paths.join(venv, "bin", "python")
    return paths.join(venv, "Scripts", "python.exe")


def foreign_layout(venv, platform, exists=os.path.exists):
    """A virtual environment at `venv` made on the other kind of system (a folder shared between
    Windows and WSL, or copied from a Mac): it has the other's Python and not ours."""
    return not exists(venv_python(venv, platform)) and exists(other_systems_python(venv, platform))


def is_conda_base(prefix, exists=os.path.isdir):
    """conda's own installation (base) rather than an environment made with conda env create."""
    return exists(os.path.join(prefix, "condabin")) or exists(os.path.join(prefix, "envs"))


def choose_environment(root, venv_option, prefix, base_prefix, executable, platform,
                       isdir=os.path.isdir):
    """Where the kit goes: {"kind", "path", "python", "ours"}.

    `ours` is a virtual environment that start.py makes and may upgrade pip in: --venv PATH, or
    .venv/ next to start.py. Otherwise the environment that runs start.py, when it is one a
    learner made for this (an active virtual environment, a conda environment other than base):
    that is the conda route, and what someone who activated their own venv expects.
    """
    paths = path_module(platform)
    default = paths.join(root, DEFAULT_VENV)
    if venv_option:
        path = paths.normpath(paths.join(root, venv_option))  # relative to the kit, as .venv is
        return {"kind": "venv", "path": path, "python": venv_python(path, platform), "ours": True}
    same = paths.normcase(paths.normpath(prefix)) == paths.normcase(paths.normpath(default))
    if prefix != base_prefix and not same:
        return {"kind": "active venv", "path": prefix, "python": executable, "ours": False}
    if not same and isdir(paths.join(prefix, "conda-meta")) and not is_conda_base(prefix, isdir):
        return {"kind": "conda", "path": prefix, "python": executable, "ours": False}
    return {"kind": "venv", "path": default, "python": venv_python(default, platform), "ours": True}


def describe(env, root):
    where = shown_path(env["path"], root)
    if env["kind"] == "active venv":
        return ("Using the active virtual environment %s (for the kit's own .venv/ instead, "
                "deactivate it first or pass --venv .venv)" % where)
    if env["kind"] == "conda":
        return "Using the conda environment %s (%s)" % (os.path.basename(env["path"]), where)
    return "Using the virtual environment %s" % where


def shown_path(path, root):
    """A path as the learner would type it from the kit's folder."""
    if path == root:
        return "."
    for separator in ("/", "\\"):
        if path.startswith(root + separator):
            return path[len(root) + 1:] + separator
    return path


def shown(command, platform, root=ROOT):
    """A command line as the learner's shell would take it: quoted for PowerShell/cmd on Windows,
    for sh elsewhere (a folder with spaces in its name stays one argument)."""
    words = [shown_path(word, root).rstrip("/\\") if word.startswith(root) else word for word in command]
    if platform == "win32":
        return subprocess.list2cmdline(words)
    import shlex
    return " ".join(shlex.quote(word) for word in words)


# -- what to install --------------------------------------------------------------------------

def read_project(root):
    """What the probe needs from pyproject.toml (Python 3.11 has tomllib)."""
    import tomllib
    with open(os.path.join(root, "pyproject.toml"), "rb") as file:
        data = tomllib.load(file)
    project = data["project"]
    extras = project.get("optional-dependencies", {})
    entry_points = []
    for group, entries in sorted(project.get("entry-points", {}).items()):
        entry_points += [[group, name, value.replace(" ", "")] for name, value in entries.items()]
    for key, group in (("scripts", "console_scripts"), ("gui-scripts", "gui_scripts")):
        entry_points += [[group, name, value.replace(" ", "")] for name, value in project.get(key, {}).items()]
    include = data.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {}).get("include", [])
    packages = sorted({pattern.rstrip("*").split(".")[0] for pattern in include if pattern.rstrip("*")})
    return {
        "name": project["name"],
        "version": project["version"],
        "requires": list(project.get("dependencies", [])),
        "extras": {name: list(requirements) for name, requirements in extras.items()},
        "build": list(data.get("build-system", {}).get("requires", [])),
        "entry_points": sorted(entry_points),
        "packages": packages,
    }


def probe_input(project, level, root):
    """What the probe checks in the environment, for `level` ("lab" or "test")."""
    requires = project["requires"] + (project["extras"].get("test", []) if level == "test" else [])
    metadata = list(project["requires"])
    for extra, requirements in sorted(project["extras"].items()):
        metadata += ['%s; extra == "%s"' % (requirement, extra) for requirement in requirements]
    return {
        "minimum": list(MINIMUM), "requires": requires, "build": project["build"], "name": project["name"],
        "version": project["version"], "root": root, "packages": project["packages"],
        "metadata_requires": metadata, "entry_points": project["entry_points"],
    }


# Runs in the environment's own Python (fed on stdin to `python -I -`, after a line that sets
# `info`) and prints what it finds as JSON. Plain Python 3 (that environment may be an old one).
PROBE = r'''
import json, os, re, sys
out = {"python": list(sys.version_info[:3]), "prefix": sys.prefix}
if tuple(sys.version_info[:2]) < tuple(info["minimum"]):
    sys.stdout.write(json.dumps(out))
    sys.exit(0)
import importlib.metadata as md
import importlib.util

Requirement = Version = None
for package in ("packaging", "pip._vendor.packaging"):
    try:
        Requirement = __import__(package + ".requirements", fromlist=["Requirement"]).Requirement
        Version = __import__(package + ".version", fromlist=["Version"]).Version
        break
    except Exception:
        pass

def installed(name):
    try:
        return md.version(name)
    except Exception:
        return None

def unmet(text):
    """None if the requirement `text` is met here, else what is wrong."""
    if Requirement is None:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", text).group(1)
        return None if installed(name) else text + " (not installed)"
    requirement = Requirement(text)
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        return None
    version = installed(requirement.name)
    if version is None:
        return text + " (not installed)"
    if not requirement.specifier.contains(version, prereleases=True):
        return "%s (%s installed)" % (text, version)
    for extra in sorted(requirement.extras):  # uvicorn[standard]: what the extra adds, one level down
        for line in md.requires(requirement.name) or []:
            sub = Requirement(line)
            if sub.marker is None or "extra" not in str(sub.marker) or not sub.marker.evaluate({"extra": extra}):
                continue
            sub_version = installed(sub.name)
            if sub_version is None or not sub.specifier.contains(sub_version, prereleases=True):
                return "%s (its %s is %s)" % (text, sub.name, "missing" if sub_version is None else sub_version)
    return None

def normal(text):
    if Requirement is not None:
        text = str(Requirement(text))
    return re.sub(r"\s+", "", text).replace("'", '"').lower()

def inside(path, root):
    path = os.path.normcase(os.path.realpath(path))
    root = os.path.normcase(os.path.realpath(root))
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)

def kit_state():
    try:
        dist = md.distribution(info["name"])
    except md.PackageNotFoundError:
        return "not installed"
    for module in info["packages"]:
        spec = importlib.util.find_spec(module)
        where = None
        if spec is not None:
            where = spec.origin if spec.origin not in (None, "namespace") else None
            if where is None and spec.submodule_search_locations:
                where = list(spec.submodule_search_locations)[0]
        if where is None:
            return "installed, but %s is missing" % module
        if not inside(where, info["root"]):
            return "installed from %s" % os.path.dirname(os.path.dirname(where))
    if dist.version != info["version"]:
        return "version %s installed" % dist.version
    if sorted(normal(r) for r in dist.requires or []) != sorted(normal(r) for r in info["metadata_requires"]):
        return "installed from an older pyproject.toml (other requirements)"
    points = sorted([ep.group, ep.name, ep.value.replace(" ", "")] for ep in dist.entry_points)
    if points != sorted(info["entry_points"]):
        return "installed from an older pyproject.toml (other entry points)"
    return "current"

out["pip"] = installed("pip")
out["missing"] = [m for m in (unmet(r) for r in info["requires"]) if m]
build_missing = [m for m in (unmet(r) for r in info["build"]) if m]
setuptools = installed("setuptools")
if not build_missing and setuptools and Version is not None and Version(setuptools) < Version("70.1") and not installed("wheel"):
    build_missing.append("wheel (setuptools %s builds editable installs with it)" % setuptools)
if Version is None:
    build_missing.append("(cannot compare versions here)")
out["build_missing"] = build_missing
out["kit"] = kit_state()
sys.stdout.write(json.dumps(out))
'''


def probe(python, data, cwd):
    """What the environment of `python` has: see PROBE."""
    # On stdin, not as `-c PROBE`: no quoting of a long program through Windows' command line.
    program = "import json\ninfo = json.loads(%r)\n%s" % (json.dumps(data), PROBE)
    try:
        answer = subprocess.run([python, "-I", "-"], input=program, capture_output=True, text=True, cwd=cwd,
                                timeout=300)
    except OSError as exc:
        raise Refusal("%s does not run (%s)" % (python, exc))
    try:
        found = json.loads(answer.stdout)
    except ValueError:
        found = None
    if answer.returncode != 0 or not isinstance(found, dict):
        detail = (answer.stderr or answer.stdout).strip().splitlines()
        raise Refusal("%s could not say what it has installed: %s" % (python, detail[-1] if detail else answer.returncode))
    return found


def version_tuple(text):
    parts = []
    for part in (text or "").split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


PIP_UPGRADE = ["-m", "pip", "install", "--quiet", "--upgrade", "pip"]


def install_steps(found, level, env, root):
    """The commands (arguments to the environment's Python, and whether a failure stops us)
    that bring the environment up to `level`; [] when it has everything already."""
    where = shown_path(env["path"], root)
    version = tuple(found["python"])
    if version[:2] < MINIMUM:
        have = ".".join(str(part) for part in version)
        if env["ours"]:
            raise Refusal("%s was made with Python %s; the kit needs %d.%d or newer. Delete the folder %s and "
                          "run this again with a newer Python." % (where, have, MINIMUM[0], MINIMUM[1], where))
        raise Refusal("The environment %s has Python %s; the kit needs %d.%d or newer." % (where, have, MINIMUM[0], MINIMUM[1]))
    steps = []
    pip = found.get("pip")
    pip_old = pip is not None and version_tuple(pip) < OLDEST_PIP
    if pip is None:
        if not env["ours"]:
            raise Refusal("pip is missing from the environment %s: install it (conda install pip, or "
                          "python -m ensurepip) and run this again." % where)
        steps.append((["-m", "ensurepip", "--upgrade"], True))
    if pip_old and not env["ours"]:
        raise Refusal("pip %s in %s is too old to install the kit: python -m pip install --upgrade pip, then run "
                      "this again." % (pip, where))
    build = [] if found["build_missing"] else ["--no-build-isolation"]  # what builds the kit is here: no download
    target = ".[test]" if level == "test" else "."
    if found["missing"]:
        if env["ours"]:
            steps.append((PIP_UPGRADE, False))
        steps.append((["-m", "pip", "install", "--progress-bar", "on"] + build + ["-e", target], True))
    else:
        if pip_old or pip is None:
            steps.append((PIP_UPGRADE, True))
        if found["kit"] != "current":
            # Every requirement is there (conda env create -f environment.yml): the kit alone.
            steps.append((["-m", "pip", "install", "--no-deps"] + build + ["-e", "."], True))
    return steps


def stamp_paths(env, level):
    paths = [os.path.join(env["path"], STAMP)]
    if level == "test":
        paths.append(os.path.join(env["path"], STAMP + "-test"))
    return paths


def pyproject_digest(root):
    with open(os.path.join(root, "pyproject.toml"), "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def stamp_content(root, env=None):
    """What the stamp records: the project as installed, and (for an environment) the Python it
    runs, so a venv whose Python was upgraded or removed is checked again, not trusted."""
    content = {"pyproject": pyproject_digest(root), "root": os.path.normcase(root)}
    if env is not None and env.get("python"):
        content["python"] = os.path.normcase(os.path.realpath(env["python"]))
    return content


def is_set_up(env, level, root):
    """The stamp says this environment has this pyproject.toml's `level` installed from `root`."""
    try:
        with open(stamp_paths(env, level)[-1]) as file:
            stored = json.load(file)
        expected = stamp_content(root, env)
        if "python" not in stored:  # a stamp from before the Python was recorded
            expected.pop("python", None)
        return stored == expected and interpreter_alive(env)
    except (IOError, OSError, ValueError):
        return False


def write_stamp(env, level, root):
    for path in stamp_paths(env, level):
        try:
            with open(path, "w") as file:
                json.dump(stamp_content(root, env), file)
        except (IOError, OSError) as exc:  # a conda environment this user may not write to
            warn("start.py: could not write %s (%s): the next run checks the environment again" % (path, exc))


def interpreter_alive(env):
    """Whether the environment's Python is still there: a venv points at the Python that made it
    (pyvenv.cfg's `home`), which an upgrade or an uninstall may have taken away."""
    if not env.get("python"):
        return True
    if not os.path.exists(os.path.realpath(env["python"])):
        return False
    try:
        with open(os.path.join(env["path"], "pyvenv.cfg")) as file:
            settings = dict((name.strip(), value.strip()) for name, value in
                            (line.split("=", 1) for line in file if "=" in line))
        home = settings.get("home", "")
    except (IOError, OSError):
        return True  # not a venv (a conda environment): its python exists
    return not home or os.path.isdir(home)


def make_venv(env, platform, root):
    """Creates the virtual environment with the Python that runs this file, if it is not there
    (or again, when the Python that made it is gone)."""
    if os.path.exists(env["python"]) and interpreter_alive(env):
        return False
    where = shown_path(env["path"], root)
    if foreign_layout(env["path"], platform):
        raise Refusal("%s was made on another system (it has %s, not %s), e.g. in a folder shared with WSL or "
                      "another computer. Delete the folder %s and run this again." % (
                          where, other_systems_python(where.rstrip("/\\"), platform),
                          venv_python(where.rstrip("/\\"), platform), where))
    existed = os.path.exists(env["path"])
    if existed:
        say("%s was made with a Python that is not there any more: making it again with this one." % where)
    say("Creating %s with Python %s (%s) ..." % (where, ".".join(str(p) for p in sys.version_info[:3]), sys.executable))
    made = subprocess.run([sys.executable, "-m", "venv"] + (["--clear"] if existed else []) + [env["path"]], cwd=root)
    if made.returncode != 0 or not os.path.exists(env["python"]):
        if not existed:
            import shutil
            shutil.rmtree(env["path"], ignore_errors=True)  # half made: the next run starts clean
        hint = ""
        if platform.startswith("linux"):
            hint = (" On Debian or Ubuntu the venv module is a package of its own: sudo apt install python3-venv "
                    "(or python%d.%d-venv), then run this again." % sys.version_info[:2])
        raise Refusal("Could not create the virtual environment %s with %s.%s" % (where, sys.executable, hint))
    return True


def ensure(env, level, platform, root=ROOT):
    """Installs what `level` needs into `env` (making it first if it is ours), unless its stamp
    says that is done. Returns the environment's Python."""
    if env["ours"]:
        made = make_venv(env, platform, root)
    else:
        made = False
        say(describe(env, root))
    if not made and is_set_up(env, level, root):
        return env["python"]
    found = probe(env["python"], probe_input(read_project(root), level, root), env["path"])
    steps = install_steps(found, level, env, root)
    if steps:
        what = "with the test tools " if level == "test" else ""
        say("Setting up the kit %sin %s (the first time: a few minutes; pip shows its progress) ..." % (
            what, shown_path(env["path"], root)))
        for arguments, required in steps:
            command = [env["python"]] + arguments
            say("$ " + shown(command, platform, root))
            if run_child(command, root, platform) != 0:
                if required:
                    raise Refusal("This step failed (see pip's message above): %s. The first setup downloads from "
                                  "pypi.org: check the network (behind a proxy, set HTTPS_PROXY)." % shown(command, platform, root))
                warn("start.py: that step failed; going on with the pip there is.")
    write_stamp(env, level, root)
    return env["python"]


# -- running what was set up ------------------------------------------------------------------

def run_child(command, cwd, platform=sys.platform):
    """Runs `command` to its end and returns its exit code, leaving Ctrl-C to it.

    Ctrl-C reaches every program in the terminal (POSIX: the foreground process group; Windows:
    every process attached to the console), so the child has it too, and stops in its own way
    (scripts/lab.py stops JupyterLab, then the mock). We wait for that rather than die first, which
    would leave it half stopped. A SIGTERM or SIGHUP sent to us alone (a closed terminal, a
    process manager, `timeout`) is passed on as SIGTERM; a third Ctrl-C ends the child outright.
    """
    child = subprocess.Popen(command, cwd=cwd)
    interrupts = [0]

    def interrupted(signum, frame):
        interrupts[0] += 1
        if interrupts[0] == 2:
            say("start.py: waiting for it to stop (Ctrl-C once more to end it at once) ...")
        elif interrupts[0] >= 3 and child.poll() is None:
            child.kill()

    def pass_on(signum, frame):
        if child.poll() is None:
            child.terminate()

    handlers = {signal.SIGINT: interrupted}
    if platform == "win32":
        handlers[getattr(signal, "SIGBREAK", signal.SIGINT)] = interrupted
    else:
        handlers[signal.SIGTERM] = pass_on
        handlers[signal.SIGHUP] = pass_on
    previous = {}
    for signum, handler in handlers.items():
        try:
            previous[signum] = signal.signal(signum, handler)
        except (ValueError, OSError):  # not the main thread
            pass
    try:
        while True:
            try:
                return child.wait(timeout=0.5)  # a timeout, so that handlers also run on Windows
            except subprocess.TimeoutExpired:
                continue
            except KeyboardInterrupt:  # before our handler was in place
                continue
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_tool_steps(platform, which, root=ROOT, exists=os.path.exists):
    """What `test` runs before pytest, as [(what, command or None, why skipped)]: Debian's chromium
    (scripts/install-browser.sh, apt-get) and the npm packages the browser tests load
    (scripts/install-test-tools.sh, bash and npm). Where they cannot run, the tests that need them
    fail and say so; the rest of the suite runs."""
    browser = os.path.join(root, "scripts", "install-browser.sh")
    tools = os.path.join(root, "scripts", "install-test-tools.sh")
    if platform == "win32":
        why = ("they are bash scripts for Linux (apt-get, npm); the browser and JupyterHub tests fail here "
               "without them: run those on Linux or in WSL")
        return [("chromium for the browser tests", None, why), ("the npm packages the browser tests load", None, why)]
    bash = which("bash")
    steps = []
    if bash and which("apt-get"):
        steps.append(("chromium for the browser tests", [bash, browser], None))
    else:
        steps.append(("chromium for the browser tests", None,
                      "scripts/install-browser.sh installs Debian's chromium with apt-get, which is not here; the "
                      "browser tests expect it at /usr/bin/chromium" + ("" if exists("/usr/bin/chromium") else
                                                                       " and fail without it")))
    if bash and which("npm"):
        steps.append(("the npm packages the browser tests load", [bash, tools], None))
    elif bash:
        steps.append(("the npm packages the browser tests load", None,
                      "npm is not here: install Node.js 20 or newer with npm (nodejs.org or NodeSource; Debian 12's "
                      "own nodejs is 18, too old for configurable-http-proxy), then run this again; the browser and "
                      "JupyterHub tests fail without them"))
    else:
        steps.append(("the npm packages the browser tests load", None, "scripts/install-test-tools.sh needs bash"))
    return steps


def install_test_tools(platform, root):
    """Runs test_tool_steps: chromium and the npm packages, or says why each is skipped."""
    import shutil
    for what, tool, why in test_tool_steps(platform, shutil.which, root):
        if tool is None:
            say("Skipped %s: %s." % (what, why))
            continue
        code = run_child(tool, root, platform)
        if code != 0:
            raise Refusal("Could not set up %s (%s exited with %s); see its message above." % (
                what, shown(tool, platform, root), code))


def lab_check(env, platform, root, arguments):
    """`lab --check`: which environment, what setting up would install, and (when it is set up)
    scripts/lab.py's own check of the settings and the ports. Installs and starts nothing."""
    where = shown_path(env["path"], root)
    if env["ours"] and not os.path.exists(env["python"]):
        say("Would create %s with Python %s (%s), install the kit there (pip install -e .), then start the mock "
            "and JupyterLab." % (where, ".".join(str(p) for p in sys.version_info[:3]), sys.executable))
        return 0
    say(describe(env, root))
    if not is_set_up(env, "lab", root):
        found = probe(env["python"], probe_input(read_project(root), "lab", root), env["path"])
        steps = install_steps(found, "lab", env, root)
        if found["missing"]:
            say("Missing there: " + "; ".join(found["missing"]))
        say("The kit there: %s" % found["kit"])
        if steps:
            for arguments_, _ in steps:
                say("Would run: " + shown([env["python"]] + arguments_, platform, root))
            say("then start the mock and JupyterLab.")
            return 0
    return run_child([env["python"], os.path.join(root, "scripts", "lab.py"), "--check"] + arguments, root, platform)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    named = [word for word in argv if word in COMMANDS]
    problem = python_problem(sys.version_info, sys.platform, sys.executable, named[0] if named else "lab")
    if problem:
        warn(problem)
        return 1
    try:
        return run(argv, sys.platform)
    except Refusal as exc:
        warn("start.py: %s" % exc)
        return 1
    except KeyboardInterrupt:
        warn("start.py: stopped.")
        return 130


def run(argv, platform, root=ROOT):
    venv_option = None
    while argv and argv[0].startswith("-"):
        option = argv.pop(0)
        if option in ("-h", "--help"):
            argv = ["help"]
        elif option == "--venv" and argv:
            venv_option = argv.pop(0)
        elif option.startswith("--venv="):
            venv_option = option.split("=", 1)[1]
        else:
            raise Refusal("unknown option %s (%s start.py help)" % (option, python_command(platform)))
    command = argv.pop(0) if argv else "help"
    if command == "help":
        say(USAGE.format(python=python_command(platform)).rstrip())
        return 0
    if command not in COMMANDS:
        raise Refusal("no command %r (%s start.py help)" % (command, python_command(platform)))
    env = choose_environment(root, venv_option, sys.prefix, getattr(sys, "base_prefix", sys.prefix),
                             sys.executable, platform)
    if command == "lab" and "--check" in argv:
        return lab_check(env, platform, root, [word for word in argv if word != "--check"])
    level = "test" if command in ("test", "setup-test", "bench") else "lab"
    python = ensure(env, level, platform, root)
    if command in ("test", "setup-test"):
        install_test_tools(platform, root)
    if command in ("setup", "setup-test"):
        say("The kit is set up in %s." % shown_path(env["path"], root))
        return 0
    if command == "lab":
        return run_child([python, os.path.join(root, "scripts", "lab.py")] + argv, root, platform)
    if command == "mock":
        return run_child([python, "-m", "mock_idp"] + argv, root, platform)
    if command == "room":
        return run_child([python, "-m", "mock_idp", "--room"] + argv, root, platform)
    if command == "walkthrough":
        return run_child([python, "-m", "walkthrough"] + argv, root, platform)
    if command == "bench":
        return run_child([python, os.path.join(root, "benchmarks", "run_all.py")] + argv, root, platform)
    if argv and argv[0] == "--":
        argv = argv[1:]
    return run_child([python, "-m", "pytest"] + argv, root, platform)


if __name__ == "__main__":
    sys.exit(main())
