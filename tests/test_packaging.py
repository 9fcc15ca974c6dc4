"""Packaging stays honest: pip (pyproject.toml) and conda/Binder (environment.yml) install the
same requirements, and every module the code imports is one that the packaging declares.

A module that is only there because something else happens to pull it in works on the
machine that wrote the code and breaks on the next release of that something else.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
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
    # `-e .` installs the kit itself (its packages), not a requirement.
    pip_requirements = [item for item in pip if item not in ("-e .", "-e", ".")]
    assert "-e ." in pip, "environment.yml should install the kit itself with `-e .`"
    ours = sorted(canonical_requirement(r) for r in declared)
    theirs = sorted(canonical_requirement(r) for r in pip_requirements)
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
