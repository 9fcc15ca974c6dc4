"""nbval re-runs every notebook in notebooks/ and compares every output with the stored one.

A pytest plugin (pyproject.toml loads it with `-p tests.nbval_kernels`), kept in tests/ so the
learner's notebooks/ folder holds only notebooks. pyproject.toml turns nbval on for a plain
`pytest` (or `pytest notebooks/`): --nbval (strict), --nbval-current-env,
--nbval-sanitize-with tests/nbval_sanitize.cfg. nbval collects only .ipynb files, so these
options change nothing for tests/.

The stored outputs come from a fresh kernel talking to a fresh bundled mock at
http://localhost:4000, which the kernel starts itself (kit.settings.ensure_mock). So, before
nbval starts each notebook's kernel, this file:
- hides .env and any AUTHGEAR_* variable: the notebooks under test use the mock, whatever the
  developer has configured;
- sets KIT_AUTOLOGIN=1: the notebook makes the browser's requests itself (no person in CI);
- checks what answers at :4000. Nothing: good, the kernel starts its own mock. The kit's own mock
  (e.g. from `make lab`): it is reset to its starting state (clock, sessions, codes) and used.
  Anything else: the notebook fails with a message saying so, instead of comparing outputs
  against a stranger.

The kernel copies the environment when it starts; it is restored right after, so tests/ never
see these variables. Do not run the notebooks in parallel (pytest-xdist): they share port 4000.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kit.settings import MOCK_CLIENT_ID, MOCK_ENDPOINT
from mock_idp.server import port_in_use

KERNEL_ENV = {
    "KIT_AUTOLOGIN": "1",  # the browser step without a person: alice@example.com / alice123
    "KIT_ENV_FILE": os.devnull,  # no .env: no AUTHGEAR_ENDPOINT, so the bundled mock
    "PYTHONHASHSEED": "0",  # nothing should print a set, but if it does, in the same order
    "KIT_HOSTED": "0",  # the stored outputs are the laptop's, even when the suite runs inside a JupyterHub
}
KERNEL_ENV_HIDDEN = (
    "AUTHGEAR_ENDPOINT", "AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET", "AUTHGEAR_REDIRECT_URL",
    "KIT_PASTE_BACK",
)
MOCK_PORT = int(MOCK_ENDPOINT.rsplit(":", 1)[1])


def pytest_configure(config: pytest.Config) -> None:
    # `--nbval-sanitize-with tests/nbval_sanitize.cfg` is relative to the repository's root; make
    # it work from any working directory.
    option = getattr(config.option, "nbval_sanitize_with", None)
    if option and not Path(option).is_file() and (config.rootpath / option).is_file():
        config.option.nbval_sanitize_with = str(config.rootpath / option)


def _is_notebook_about_to_start(item: pytest.Item) -> bool:
    """True for a notebook cell whose notebook has no kernel yet (nbval starts it in setup)."""
    return item.path.suffix == ".ipynb" and getattr(item.parent, "kernel", "n/a") is None




def _prepare_mock() -> str | None:
    """Makes :4000 ready for a notebook; returns why it cannot be, or None."""
    if not port_in_use(MOCK_PORT):
        return None  # the notebook's kernel starts a fresh mock
    try:
        index = requests.get(MOCK_ENDPOINT + "/_mock/", timeout=2).json()
        is_kit_mock = index.get("issuer") == MOCK_ENDPOINT
    except (requests.RequestException, ValueError, AttributeError):
        is_kit_mock = False
    if not is_kit_mock:
        return (f"Something that is not the kit's mock listens on port {MOCK_PORT}, and the notebooks "
                f"would talk to it. Stop it (see `ss -ltnp | grep {MOCK_PORT}`) and run the tests again.")
    requests.post(MOCK_ENDPOINT + "/_mock/reset", timeout=5).raise_for_status()
    clients = requests.get(MOCK_ENDPOINT + "/_mock/clients", timeout=5).json()["clients"]
    if not any(client["client_id"] == MOCK_CLIENT_ID for client in clients):
        return (f"The mock running at {MOCK_ENDPOINT} was started with a config file that has no "
                f"{MOCK_CLIENT_ID!r} client. Stop it (or start it without --config) and run the tests again.")
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    if not _is_notebook_about_to_start(item):
        return (yield)
    problem = getattr(item.parent, "kit_mock_problem", None)
    if problem is None:
        problem = _prepare_mock() or ""
        item.parent.kit_mock_problem = problem  # type: ignore[attr-defined]
    elif problem:
        pytest.skip("see the notebook's first cell")
    if problem:
        pytest.fail(problem, pytrace=False)
    saved = {name: os.environ.get(name) for name in (*KERNEL_ENV, *KERNEL_ENV_HIDDEN)}
    os.environ.update(KERNEL_ENV)
    for name in KERNEL_ENV_HIDDEN:
        os.environ.pop(name, None)
    try:
        return (yield)  # nbval starts the kernel here, with this environment
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
