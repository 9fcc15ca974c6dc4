"""A learner's notebooks 01-09 run unchanged against a room (issue 10).

A real room, as an instructor starts it (`python -m mock_idp --room`, on a free port of
127.0.0.1: never 4000, which the bundled mock and other tests use), two learners who joined over
HTTP, and every notebook executed, in order, by a fresh kernel whose only configuration is the
first learner's `.env` (the `env` lines the join answer gave) and KIT_AUTOLOGIN with their email
and password. Nothing in the notebooks changes, and the stored outputs name the bundled mock, so
this is an execution test, not an nbval comparison: a notebook fails with its failing cell's
source and traceback.

Then the instructor's view (`/_room/progress`) shows all eight steps done for that learner, their
authorization requests with state, nonce and PKCE; and the second learner, who joined but did
nothing, has no step done and none of the first learner's exchanges in their own log.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.test_notebooks_provider_switch import output_text  # what the cells printed, and errors or stderr

ROOT = Path(__file__).resolve().parent.parent
# Notebooks 01 to 09 (the "a learner's notebooks 01-09"): notebook 10, the security lab, runs on a
# mock of its own by design, never on a room's.
NOTEBOOKS = sorted(path for path in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb") if path.name < "10")
JSON = {"Accept": "application/json"}
STEPS = ("discovery", "authorize", "login", "token", "userinfo", "refresh", "revocation", "logout")  # the eight
CELL_TIMEOUT = 60  # seconds per cell, as nbval's (pyproject.toml)
START_TIMEOUT = 30  # seconds for the room to print its addresses
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# What the kernel must not inherit from whoever runs the tests: the .env file alone decides.
HIDDEN = ("AUTHGEAR_ENDPOINT", "AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET", "AUTHGEAR_REDIRECT_URL",
          "KIT_PASTE_BACK", "KIT_AUTOLOGIN", "KIT_ENV_FILE", "KIT_HOSTED")

# The nine notebooks take about 20 s (40 s with nbconvert, a process each); each cell may take
# CELL_TIMEOUT at most. The first test of the module pays for running them all (a module fixture).
pytestmark = pytest.mark.timeout(900)


@dataclasses.dataclass
class RunningRoom:
    issuer: str
    instructor_token: str
    process: subprocess.Popen[bytes]
    output: Path  # what the room printed (its banner, then any warning or traceback)

    def progress(self) -> dict[str, Any]:
        answer = requests.get(self.issuer + "/_room/progress", timeout=10,
                              headers={"Authorization": f"Bearer {self.instructor_token}"})
        answer.raise_for_status()
        return answer.json()

    def row(self, learner: dict[str, Any]) -> dict[str, Any]:
        rows = [row for row in self.progress()["learners"] if row["client_id"] == learner["client_id"]]
        assert len(rows) == 1, f"the room lists {learner['name']} {len(rows)} times"
        return rows[0]


@dataclasses.dataclass
class NotebookRun:
    path: Path
    notebook: nbformat.NotebookNode = dataclasses.field(repr=False)
    sources: list[str] = dataclasses.field(repr=False)  # the cells before the run
    seconds: float
    failure: str | None  # the failing cell's source and traceback


def start_room(output: Path) -> RunningRoom:
    """`python -m mock_idp --room` on a free port of loopback; its issuer and the instructor's token
    from the first lines it prints (to a file: nobody has to keep reading a pipe)."""
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mock_idp", "--room", "--host", "127.0.0.1", "--port", "0", "--max-learners", "5"],
            stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        lines = output.read_text(errors="replace").splitlines()
        if len(lines) >= 3 and lines[0].startswith("Room mock at ") and "/_room?token=" in lines[2]:
            break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(10)
            pytest.fail(f"the room did not start (exit code {process.returncode}):\n" + "\n".join(lines),
                        pytrace=False)
        time.sleep(0.1)
    issuer = lines[0].split()[3]
    assert issuer.startswith("http://127.0.0.1:") and not issuer.endswith(":4000"), lines[0]
    assert lines[1].split()[-1] == issuer + "/join", lines[1]
    dashboard = lines[2].split()[-1]
    assert dashboard.startswith(issuer + "/_room?token="), lines[2]
    return RunningRoom(issuer, dashboard.split("?token=", 1)[1], process, output)


def join(room: RunningRoom, name: str) -> dict[str, Any]:
    """What a script gets from the join page: the client, the user and the .env lines."""
    answer = requests.post(room.issuer + "/join", data={"name": name}, headers=JSON, timeout=10)
    assert answer.status_code == 201, answer.text
    learner = answer.json()
    assert learner["env"].startswith(f"AUTHGEAR_ENDPOINT={room.issuer}\n"), learner["env"]
    return learner


def teaching(room: RunningRoom, learner: dict[str, Any], path: str) -> requests.Response:
    """The learner's own teaching API: HTTP Basic with their client id and secret."""
    return requests.get(room.issuer + path, auth=(learner["client_id"], learner["client_secret"]), timeout=10)


def failed_cell(notebook: nbformat.NotebookNode, error: CellExecutionError) -> str:
    """The failing cell's source and its traceback (without the terminal's colours)."""
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                trace = ANSI.sub("", "\n".join(output.get("traceback", [])))
                return (f"cell {index} failed:\n---- source ----\n{cell.source}\n---- traceback ----\n{trace}")
    return ANSI.sub("", str(error))  # a timeout or a dead kernel: nbclient's own account


def run_notebook(path: Path, env: dict[str, str]) -> NotebookRun:
    notebook = nbformat.read(path, as_version=4)
    sources = [cell.source for cell in notebook.cells]
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.monotonic()
    failure = None
    try:
        client.execute(env=env)  # the kernel's whole environment
    except CellExecutionError as error:
        failure = failed_cell(notebook, error)
    except Exception as error:  # noqa: BLE001 - a timeout, a kernel that died: still a report
        failure = f"{type(error).__name__}: {ANSI.sub('', str(error))}"
    return NotebookRun(path, notebook, sources, time.monotonic() - started, failure)


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRoom]:
    running = start_room(tmp_path_factory.mktemp("room") / "room.log")
    try:
        yield running
    finally:
        running.process.terminate()
        try:
            running.process.wait(10)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait(10)


@pytest.fixture(scope="module")
def learners(room: RunningRoom) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two learners in the room: Ada runs the notebooks, Bob joined and did nothing."""
    return join(room, "Ada Lovelace"), join(room, "Bob")


@pytest.fixture(scope="module")
def runs(room: RunningRoom, learners: tuple[dict[str, Any], dict[str, Any]],
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, NotebookRun]:
    """Ada's notebooks, 01 to 09 in order, each in a fresh kernel, as she would run them. All nine
    run even if one fails: each notebook's test reports its own."""
    ada, _ = learners
    env_file = tmp_path_factory.mktemp("ada") / ".env"
    env_file.write_text(ada["env"])  # what she pastes into .env at the kit's root
    env = {name: value for name, value in os.environ.items() if name not in HIDDEN}
    env.update({
        "KIT_AUTOLOGIN": f"{ada['email']}:{ada['password']}",  # the browser step, logging in as Ada
        "KIT_ENV_FILE": str(env_file),
        "KIT_HOSTED": "0",  # a laptop's kernel, even when the suite runs inside a JupyterHub
    })
    return {path.name: run_notebook(path, env) for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_the_notebook_runs_unchanged_in_a_room(path: Path, room: RunningRoom,
                                               learners: tuple[dict[str, Any], dict[str, Any]],
                                               runs: dict[str, NotebookRun]) -> None:
    ada, _ = learners
    run = runs[path.name]
    if run.failure:
        pytest.fail(f"{path.name} failed in the room at {room.issuer} ({run.seconds:.0f} s):\n{run.failure}",
                    pytrace=False)
    assert [cell.source for cell in run.notebook.cells] == run.sources, "A cell was changed: a room must need none."
    text, problems = output_text(run.notebook)
    assert not problems, f"{path.name}: " + "; ".join(problems)
    provider = f"Provider: the room's mock (from .env): {room.issuer}, client_id {ada['client_id']}"
    assert provider in text, f"{path.name} did not say it talks to the room's mock as Ada ({provider!r})"
    assert "Provider: the bundled mock" not in text, f"{path.name} used the bundled mock although .env names a room"
    assert not re.search(r"(GET|POST) http://localhost:4000", text), f"{path.name} sent a request to the bundled mock"


def test_the_room_shows_every_step_done_for_the_learner(room: RunningRoom,
                                                        learners: tuple[dict[str, Any], dict[str, Any]],
                                                        runs: dict[str, NotebookRun]) -> None:
    ada, _ = learners
    failed = [name for name, run in runs.items() if run.failure]
    steps = room.progress()["steps"]
    assert steps == list(STEPS)
    row = room.row(ada)
    missing = [step for step in steps if row["steps"][step] is None]
    assert not missing, f"steps not done for Ada: {missing} (notebooks that failed: {failed or 'none'})"
    # Her last authorization request that succeeded (a login of 09's) carried all three; 01's preflight sent none.
    assert row["authorize"] == {"state": True, "nonce": True, "pkce": True}
    assert row["last_seen"] is not None and row["name"] == "Ada Lovelace" and row["email"] == ada["email"]


def test_a_learner_who_did_nothing_has_no_steps_and_none_of_the_others_exchanges(
        room: RunningRoom, learners: tuple[dict[str, Any], dict[str, Any]], runs: dict[str, NotebookRun]) -> None:
    ada, bob = learners
    row = room.row(bob)
    assert all(at is None for at in row["steps"].values()), row["steps"]
    assert row["errors"] == 0 and row["last_error"] is None and row["last_seen"] is None, row

    ada_log = teaching(room, ada, "/_mock/exchanges")
    bob_log = teaching(room, bob, "/_mock/exchanges")
    assert ada_log.status_code == 200 and bob_log.status_code == 200, (ada_log.text, bob_log.text)
    ada_entries, bob_entries = ada_log.json()["exchanges"], bob_log.json()["exchanges"]
    assert ada_entries, "Ada's log is empty: the comparison below would prove nothing"
    assert bob_entries == [], f"Bob did nothing, yet his log holds {len(bob_entries)} exchanges"
    assert ada["client_id"] not in bob_log.text and ada["email"] not in bob_log.text


def test_the_room_kept_running_without_an_error(room: RunningRoom, runs: dict[str, NotebookRun]) -> None:
    assert room.process.poll() is None, "the room stopped"
    logged = room.output.read_text(errors="replace").splitlines()[6:]  # past the banner
    assert not logged, "the room printed:\n" + "\n".join(logged)
