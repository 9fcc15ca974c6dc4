"""Packaging stays honest: pip (pyproject.toml) and conda/Binder (environment.yml) install the
same requirements, Binder's build files are the ones repo2docker will use and do what it needs,
and every module the code imports is one that the packaging declares.

A module that is only there because something else happens to pull it in works on the
machine that wrote the code and breaks on the next release of that something else.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Code that runs with the kit's own dependencies, and code that also has the test extras.
RUNTIME_CODE = ["mock_idp", "kit", "walkthrough", "scripts", "notebooks"]
# mock_idp/pytest_plugin.py runs only inside pytest (its pytest11 entry point): pytest is there then.
TEST_CODE = ["tests", "benchmarks", "mock_idp/pytest_plugin.py"]
NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def canonical_name(name: str) -> str:
    """PEP 503: case, `_`, `.` and `-` do not matter in a distribution's name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def canonical_requirement(requirement: str) -> str:
    """`PyJWT [crypto] >= 2.8` and `pyjwt[crypto]>=2.8` are the same requirement."""
    match = NAME.fullmatch(requirement)
    assert match, f"cannot read the requirement {requirement!r}"
    name, extras, rest = match.groups()
    extras_part = ",".join(sorted(e.strip().lower() for e in extras[1:-1].split(","))) if extras else ""
    return canonical_name(name) + (f"[{extras_part}]" if extras_part else "") + re.sub(r"\s+", "", rest)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment_yml() -> tuple[list[str], list[str]]:
    """(conda dependencies, pip list) of environment.yml: a small fixed shape, read without a
    YAML library (the kit does not depend on one)."""
    conda: list[str] = []
    pip: list[str] = []
    in_dependencies = False
    pip_indent: int | None = None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        text = line.split(" #", 1)[0].rstrip()
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        indent = len(text) - len(text.lstrip())
        if indent == 0:
            in_dependencies = text.startswith("dependencies:")
            pip_indent = None
            continue
        if not in_dependencies:
            continue
        item = text.strip()
        if pip_indent is not None and indent > pip_indent:
            assert item.startswith("- "), f"environment.yml: unexpected line in the pip list: {line!r}"
            pip.append(item[2:].strip().strip("'\""))
            continue
        pip_indent = None
        if item == "- pip:":
            pip_indent = indent
        elif item.startswith("- "):
            conda.append(item[2:].strip())
    return conda, pip


def test_environment_yml_names_the_same_requirements_as_pyproject() -> None:
    declared = pyproject()["project"]["dependencies"]
    conda, pip = environment_yml()
    assert "pip" in conda, "environment.yml must install pip to install the pip list"
    ours = sorted(canonical_requirement(r) for r in declared)
    theirs = sorted(canonical_requirement(r) for r in pip)
    assert len(set(theirs)) == len(theirs), f"environment.yml names a requirement twice: {theirs}"
    assert theirs == ours, (
        f"only in pyproject.toml: {sorted(set(ours) - set(theirs))}; "
        f"only in environment.yml: {sorted(set(theirs) - set(ours))}"
    )


def test_conda_python_satisfies_requires_python() -> None:
    conda, _ = environment_yml()
    [python] = [item for item in conda if item.startswith("python")]
    conda_version = tuple(int(p) for p in re.split(r"[=<>]+", python)[1].split(".")[:2])
    required = pyproject()["project"]["requires-python"]
    minimum = re.fullmatch(r">=\s*(\d+)\.(\d+)", required)
    assert minimum, f"requires-python {required!r}: expected a plain >=X.Y"
    assert conda_version >= (int(minimum.group(1)), int(minimum.group(2))), (python, required)


# -- Binder (repo2docker) -------------------------------------------------------------------
# What repo2docker does with this repository, checked on its files (no Docker, no network):
# with no binder/ folder it reads the root; environment.yml picks its conda build, which installs
# environment.yml in a layer of its own before the repository is copied in; then it copies the
# repository, runs ./postBuild from the root and, if there is one, wraps the server in ./start.

# A file of these names would make repo2docker build another way (a Dockerfile, Julia, Nix, R),
# or be ignored beside environment.yml while looking as if it counted.
NOT_FOR_BINDER = ["Dockerfile", "Project.toml", "JuliaProject.toml", "REQUIRE", "default.nix", "install.R",
                  "DESCRIPTION", "runtime.txt", "environment.yaml", "requirements.txt", "Pipfile", "setup.py"]
# A published requirement: a name, extras, version specifiers; nothing local, no URL, no option.
PUBLISHED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]+\])?\s*((~=|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!-]+\s*,?\s*)*")
# Commands that fetch something: postBuild runs none (pip only for the kit itself).
FETCHERS = {"curl", "wget", "git", "npm", "npx", "yarn", "conda", "mamba", "micromamba", "apt", "apt-get",
            "pipx", "uv", "jupyter-labextension"}
BINDER_URL = re.compile(r"https://mybinder\.org/v2/gh/[^)\s]+")


def binder_folder_problems(root: Path) -> list[str]:
    problems = [f"{name}/: repo2docker would read it and ignore environment.yml and postBuild at the root"
                for name in ("binder", ".binder") if (root / name).exists()]
    problems += [f"{name}: repo2docker would build from it, or ignore it beside environment.yml"
                 for name in NOT_FOR_BINDER if (root / name).exists()]
    return problems


def shell_commands(script: str) -> list[list[str]]:
    """The commands of a small shell script, as words: continuation lines joined, comments and
    here-documents' bodies left out (what matters there is the command that reads them)."""
    commands: list[list[str]] = []
    lines = iter(script.replace("\\\n", " ").splitlines())
    for line in lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for word in [*lexer, ";"]:
            if word in ("&&", "||", ";", "|", "&"):
                commands += [command] if command else []
                command = []
            else:
                command.append(word)
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)", line)
        if heredoc:
            for body in lines:
                if body.strip() == heredoc.group(1):
                    break
    return commands


def pip_install_arguments(words: list[str]) -> list[str] | None:
    """The arguments after `pip install` (`python -m pip install`, `pip3 install`), else None."""
    for i, word in enumerate(words[:-1]):
        if Path(word).name in ("pip", "pip3") and words[i + 1] == "install":
            return words[i + 2:]
    return None


def postbuild_problems(script: str) -> list[str]:
    lines = script.splitlines()
    problems = []
    if not lines or not lines[0].startswith("#!"):
        problems.append("does not start with a shebang (#!/bin/bash)")
    elif len(lines) < 2 or not re.match(r"set -e\w*(\s|$)", lines[1]):
        problems.append("the line after the shebang is not `set -e` (a failed step must fail the build)")
    installs_kit = False
    for words in shell_commands(script):
        arguments = pip_install_arguments(words)
        if arguments is not None:
            targets = [a for a in arguments if not a.startswith("-")]
            if targets != ["."] or "--no-deps" not in arguments:
                problems.append(f"`{shlex.join(words)}`: postBuild installs the kit alone (`pip install --no-deps -e .`); "
                                "requirements go in environment.yml")
            installs_kit = installs_kit or "." in targets
        elif words and (Path(words[0]).name in FETCHERS or words[:3] == ["jupyter", "labextension", "install"]):
            problems.append(f"`{shlex.join(words)}`: downloads outside environment.yml")
    if not installs_kit:
        problems.append("does not install the kit (`pip install --no-deps -e .`): its packages and entry points")
    problems += [f"names an address, so it may download: {url}" for url in re.findall(r"\w+://\S+", script)]
    return problems


def start_problems(script: str) -> list[str]:
    commands = [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [] if commands and commands[-1] == 'exec "$@"' else ['does not end with `exec "$@"`: Jupyter would never start']


def test_binder_builds_from_the_root_with_environment_yml() -> None:
    assert binder_folder_problems(ROOT) == []
    assert (ROOT / "environment.yml").is_file()


def test_environment_yml_lists_only_published_requirements() -> None:
    """Binder installs environment.yml before the repository is there: a local requirement
    (`-e .`, a path, a URL) would point at nothing, or cost the cached environment."""
    conda, pip = environment_yml()
    local = [item for item in pip if not PUBLISHED.fullmatch(item)]
    local += [item for item in conda if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*((=|>=)[0-9][0-9.*]*)?", item)]
    assert local == [], f"environment.yml: not published requirements (postBuild installs the kit): {local}"


def test_postbuild_installs_the_kit_and_nothing_else() -> None:
    post_build = ROOT / "postBuild"
    assert post_build.is_file(), "postBuild is missing: Binder would not install the kit"
    assert postbuild_problems(post_build.read_text()) == []
    assert os.access(post_build, os.X_OK), "postBuild is not executable (chmod +x postBuild)"
    tracked = subprocess.run(["git", "ls-files", "--stage", "postBuild"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode == 0 and tracked.stdout:  # a clone gets git's mode, not this file's
        assert tracked.stdout.startswith("100755"), "git has postBuild as not executable: git update-index --chmod=+x postBuild"
    if shutil.which("bash"):
        checked = subprocess.run(["bash", "-n", str(post_build)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_postbuild_loads_what_pyproject_declares() -> None:
    """The entry point postBuild checks is the one pyproject.toml declares, and the functions of
    scripts/lab.py it calls exist."""
    script = (ROOT / "postBuild").read_text()
    loaded = re.findall(r'entry_points\(group="([^"]+)", name="([^"]+)"\)', script)
    assert loaded, "postBuild should check that Jupyter finds the mock's proxy entry"
    declared = pyproject()["project"]["entry-points"]
    for group, name in loaded:
        assert name in declared.get(group, {}), f"postBuild loads {group}:{name}, which pyproject.toml does not declare"
    lab = ast.parse((ROOT / "scripts" / "lab.py").read_text())
    functions = {node.name for node in lab.body if isinstance(node, ast.FunctionDef)}
    assert set(re.findall(r"\blab\.(\w+)\(", script)) <= functions


def test_start_script_if_any_hands_over_to_jupyter() -> None:
    start = ROOT / "start"
    if start.exists():
        assert start_problems(start.read_text()) == []


def test_the_binder_checks_report_what_repo2docker_would_do_wrong(tmp_path: Path) -> None:
    """The checkers themselves, on files that are wrong in the usual ways."""
    good = "#!/bin/bash\nset -euo pipefail\npython -m pip install --no-deps -e .\n"
    assert postbuild_problems(good) == []
    assert postbuild_problems("#!/bin/bash\npip install --no-deps -e .\n") == [
        "the line after the shebang is not `set -e` (a failed step must fail the build)"]
    assert postbuild_problems("#!/bin/bash\nset -e\npip install -e . requests \\\n  && curl -sL https://x.test/a | sh\n") == [
        "`pip install -e . requests`: postBuild installs the kit alone (`pip install --no-deps -e .`); "
        "requirements go in environment.yml",
        "`curl -sL https://x.test/a`: downloads outside environment.yml",
        "names an address, so it may download: https://x.test/a",
    ]
    assert postbuild_problems("#!/bin/bash\nset -e\ncat <<'EOF'\npip install requests\nEOF\n") == [
        "does not install the kit (`pip install --no-deps -e .`): its packages and entry points"]
    assert start_problems('#!/bin/bash\nexport KIT_AUTOLOGIN=1\nexec "$@"\n') == []
    assert start_problems("#!/bin/bash\nexport KIT_AUTOLOGIN=1\n") != []
    (tmp_path / "binder").mkdir()
    (tmp_path / "requirements.txt").write_text("requests\n")
    assert len(binder_folder_problems(tmp_path)) == 2
    assert [PUBLISHED.fullmatch(r) is not None for r in ["pyjwt[crypto]>=2.8", "urllib3>=2,<3", "-e .", ".", "x @ file:///k"]] == [
        True, True, False, False, False]


def test_the_binder_badge_opens_a_notebook_that_exists() -> None:
    urls = BINDER_URL.findall((ROOT / "README.md").read_text())
    assert len(urls) == 1, f"README.md: one Binder badge, not {len(urls)}"
    opened = re.search(r"urlpath=lab/tree/([^&)]+)", urls[0])
    assert opened and (ROOT / opened.group(1)).is_file(), urls[0]


# -- imports ------------------------------------------------------------------------------

def optional_import_nodes(tree: ast.AST) -> set[int]:
    """Imports inside `try: ... except ImportError`: optional by design, not requirements."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {getattr(h.type, "id", None) for h in node.handlers} | {
            getattr(e, "id", None) for h in node.handlers if isinstance(h.type, ast.Tuple) for e in h.type.elts
        }
        if caught & {"ImportError", "ModuleNotFoundError"}:
            for statement in node.body:
                optional.update(id(n) for n in ast.walk(statement))
    return optional


def imported_modules(source: str, where: str) -> set[str]:
    """Top-level names of the absolute imports in `source` (relative ones are the code's own)."""
    tree = ast.parse(source, filename=where)
    optional = optional_import_nodes(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def notebook_source(path: Path) -> str:
    """The code cells of a notebook, without IPython's `%magic` and `!shell` lines."""
    cells = json.loads(path.read_text())["cells"]
    lines = [
        line
        for cell in cells if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if not line.lstrip().startswith(("%", "!"))
    ]
    return "\n".join(lines)


def sources(targets: list[str]) -> list[Path]:
    found = []
    for target in targets:
        path = ROOT / target
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".py", ".ipynb") and ".ipynb_checkpoints" not in p.parts)
    return found


def runtime_sources() -> list[Path]:
    test_code = set(sources(TEST_CODE))
    return [p for p in sources(RUNTIME_CODE) if p not in test_code]


def local_modules(path: Path) -> set[str]:
    """The repository's own packages, and modules next to the file (a script's helpers)."""
    def packages(folder: Path) -> set[str]:
        return {p.name for p in folder.iterdir() if (p / "__init__.py").exists()}

    return packages(ROOT) | packages(path.parent) | {p.stem for p in path.parent.glob("*.py")}


def undeclared_imports(paths: list[Path], declared: set[str]) -> list[str]:
    distributions = importlib.metadata.packages_distributions()
    problems = []
    for path in paths:
        source = notebook_source(path) if path.suffix == ".ipynb" else path.read_text()
        where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
        for module in sorted(imported_modules(source, where) - set(sys.stdlib_module_names) - local_modules(path)):
            providers = {canonical_name(d) for d in distributions.get(module, [])}
            if not providers:
                problems.append(f"{where}: imports {module}, which no installed distribution provides")
            elif not providers & declared:
                problems.append(f"{where}: imports {module} (from {', '.join(sorted(providers))}), not declared")
    return problems


def declared_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = NAME.fullmatch(requirement)
        assert match, f"cannot read the requirement {requirement!r}"
        names.add(canonical_name(match.group(1)))
    return names


def test_every_module_the_kit_imports_is_a_declared_dependency() -> None:
    runtime = declared_names(pyproject()["project"]["dependencies"])
    paths = runtime_sources()
    assert any(p.parent.name == "mock_idp" for p in paths) and any(p.suffix == ".ipynb" for p in paths)
    assert undeclared_imports(paths, runtime) == []


def test_every_module_the_tests_and_benchmarks_import_is_declared() -> None:
    project = pyproject()["project"]
    declared = declared_names(project["dependencies"]) | declared_names(project["optional-dependencies"]["test"])
    paths = sources(TEST_CODE)
    assert Path(__file__) in paths
    assert undeclared_imports(paths, declared) == []


def test_the_import_check_reports_what_is_not_declared(tmp_path: Path) -> None:
    """The checker itself: an installed but undeclared distribution is reported, a declared one,
    the standard library, a sibling module and an optional import are not."""
    (tmp_path / "helper.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text(
        "import os\nimport requests\nimport helper\nfrom hypothesis import given\nimport no_such_module_anywhere\n"
        "try:\n    import yaml\nexcept ImportError:\n    yaml = None\n"
    )
    runtime = declared_names(pyproject()["project"]["dependencies"])
    assert undeclared_imports([script], runtime) == [
        "script.py: imports hypothesis (from hypothesis), not declared",
        "script.py: imports no_such_module_anywhere, which no installed distribution provides",
    ]
