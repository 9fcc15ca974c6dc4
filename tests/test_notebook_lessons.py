"""Each notebook is a lesson a learner does: it says what they will be able to do, shows where
it stands in the flow, has exercises from 02 on (20 or more in all), predict-then-run questions
before its failure demos, instructor notes in a collapsed block, at least one curl command for
a back-channel exchange in its stored outputs, and key points at the end."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]-*.ipynb"))
IDS = [path.name for path in NOTEBOOKS]


def cells(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def markdown(path: Path) -> str:
    return "\n".join(cell.source for cell in cells(path) if cell.cell_type == "markdown")


def outputs(path: Path) -> str:
    return "\n".join(output.get("text", "") for cell in cells(path) if cell.cell_type == "code"
                     for output in cell.get("outputs", []))


def exercises(path: Path) -> int:
    return sum("exercise" in cell.get("metadata", {}).get("tags", []) for cell in cells(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_a_lesson_opens_with_objectives_a_diagram_and_instructor_notes(path: Path) -> None:
    text = markdown(path)
    assert "After this notebook you can" in text, "no learning objectives"
    assert re.search(r"```mermaid\s*\nsequenceDiagram", text), "no sequence diagram of the flow"
    assert re.search(r"<details>\s*<summary>[^<]*Instructor notes", text), "no collapsed instructor notes"
    assert "## Key points" in text, "no key points at the end"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] != "01"], ids=[n for n in IDS if n[:2] != "01"])
def test_from_02_on_every_notebook_has_two_exercises(path: Path) -> None:
    assert exercises(path) >= 2, f"{path.name}: {exercises(path)} exercise cell(s)"


def test_twenty_exercises_in_all() -> None:
    assert sum(exercises(path) for path in NOTEBOOKS) >= 20


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_notebook_prints_a_curl_command_with_no_secret_inline(path: Path) -> None:
    printed = outputs(path)
    commands = re.findall(r"^curl .*?(?:\n(?!\s*$).*)*", printed, re.MULTILINE)
    assert commands, f"{path.name} prints no curl command"
    for command in commands:
        for secret in ("mock-secret", "alice123"):
            assert secret not in command, f"{path.name}: a secret inline in {command[:200]}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] != "01"], ids=[n for n in IDS if n[:2] != "01"])
def test_failure_demos_are_predicted_first(path: Path) -> None:
    text = markdown(path)
    predictions = len(re.findall(r"\*\*Predict:\*\*", text))
    answers = len(re.findall(r"<details>\s*<summary>\s*Answer", text))
    assert predictions >= 1, f"{path.name}: no predict-then-run question"
    assert answers >= predictions, f"{path.name}: {predictions} predictions but {answers} collapsed answers"


def test_the_learners_folder_holds_only_the_notebooks_and_their_readme() -> None:
    folder = NOTEBOOKS[0].parent
    shown = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__pycache__")
    assert shown == sorted([p.name for p in NOTEBOOKS] + ["README.md"]), "test plumbing belongs in tests/"
