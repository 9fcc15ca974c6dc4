"""Every exercise, three ways: its reference solution passes the check; each typical wrong
answer fails it with the explanation written for it; and, in the notebook, the cell tagged
`exercise` starts unsolved, its check cell goes on with the reference, and the solution shown
in the collapsed block passes the check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from kit.exercises import REGISTRY, Exercise, _load_all

_load_all()
NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]-*.ipynb"))
CHECK = re.compile(r'^(\w+) = check_exercise\("(\w+)", (\w+)\)\s*$', re.MULTILINE)
SOLUTION = re.compile(r"<details>\s*<summary>[^<]*Solution[^<]*</summary>\s*```python\n(.*?)```.*?</details>",
                      re.DOTALL)


def exercise_module(exercise: Exercise) -> dict[str, Any]:
    """The names the learner's code may use: those of the exercise's own module (the notebook
    imports them from it, or defines them in an earlier cell)."""
    import sys

    return dict(vars(sys.modules[exercise.reference.__module__]))


def notebook_exercises() -> list[tuple[str, int, nbformat.NotebookNode]]:
    found = []
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            if "exercise" in cell.get("metadata", {}).get("tags", []):
                found.append((path.name, index, notebook))
    return found


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_reference_solution_passes_its_check(name: str) -> None:
    exercise = REGISTRY[name]
    assert exercise.problems(exercise.reference) == []
    assert len(exercise.cases) >= 2, "an exercise checks at least two cases"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_typical_wrong_answer_fails_with_its_explanation(name: str) -> None:
    exercise = REGISTRY[name]
    assert exercise.wrong_answers, f"{name}: no typical wrong answer to explain"
    for wrong in exercise.wrong_answers:
        problems = exercise.problems(wrong.function)
        assert problems, f"{name}: a wrong answer passes the check ({wrong.explained_by!r})"
        assert any(wrong.explained_by in problem for problem in problems), (name, wrong.explained_by, problems)


def test_check_exercise_goes_on_with_the_reference_until_solved(capsys: pytest.CaptureFixture[str]) -> None:
    from kit.exercises import check_exercise

    exercise = REGISTRY["s256"]

    def unsolved(verifier: str) -> str:
        raise NotImplementedError("your code here")

    assert check_exercise("s256", unsolved) is exercise.reference
    assert "not written yet" in capsys.readouterr().out
    wrong = exercise.wrong_answers[0].function
    assert check_exercise("s256", wrong) is exercise.reference
    out = capsys.readouterr().out
    assert "cases fail" in out and "goes on with the reference solution" in out
    assert check_exercise("s256", exercise.reference) is exercise.reference
    assert "all 3 cases pass" in capsys.readouterr().out


@pytest.mark.parametrize(("notebook", "index", "nb"), notebook_exercises(),
                         ids=[f"{name}-cell{index}" for name, index, _ in notebook_exercises()])
def test_notebook_exercise_starts_unsolved_is_checked_and_has_a_working_solution(
        notebook: str, index: int, nb: nbformat.NotebookNode) -> None:
    cell = nb.cells[index]
    assert cell.cell_type == "code"
    later = nb.cells[index + 1:]
    check_cell = next((c for c in later if c.cell_type == "code"), None)
    assert check_cell is not None, f"{notebook}: no check after the exercise in cell {index}"
    match = CHECK.search(check_cell.source)
    assert match, f"{notebook}: the cell after exercise {index} must be `name = check_exercise(\"name\", name)`"
    name = match.group(2)
    assert match.group(1) == name == match.group(3)
    exercise = REGISTRY[name]

    # The stored notebook is the unsolved one: the learner's function raises NotImplementedError.
    namespace = exercise_module(exercise)
    exec(compile(cell.source, f"{notebook}[{index}]", "exec"), namespace)
    with pytest.raises(NotImplementedError):
        exercise.problems(namespace[name])
    stored = "".join(output.get("text", "") for output in check_cell.get("outputs", []))
    assert "not written yet" in stored and "reference solution" in stored, stored

    # The worked solution, one click away in a collapsed block, passes the check.
    solutions = [SOLUTION.search(c.source) for c in later[:4] if c.cell_type == "markdown"]
    solution = next((s for s in solutions if s), None)
    assert solution, f"{notebook}: no collapsed <details><summary>Solution</summary> block after exercise {name}"
    namespace = exercise_module(exercise)
    exec(compile(solution.group(1), f"{notebook} solution of {name}", "exec"), namespace)
    assert exercise.problems(namespace[name]) == [], f"{notebook}: the solution shown does not pass the check"


def test_a_function_that_changes_its_arguments_does_not_change_the_next_case() -> None:
    """keep_tokens (07) may update the session it gets and return it, as a web framework's session
    object is used; each call gets its own copy of the case's arguments, so the next case, and the
    next function checked, see the arguments as written."""
    exercise = REGISTRY["keep_tokens"]

    def in_place(session: dict, answer: dict, now: float) -> dict:
        session["access_token"] = answer["access_token"]
        session["expires_at"] = now + answer["expires_in"]
        for name in ("refresh_token", "id_token"):
            if name in answer:
                session[name] = answer[name]
        return session

    assert exercise.problems(in_place) == []
    assert exercise.problems(in_place) == []  # the cases' own sessions are unchanged
    assert exercise.problems(exercise.reference) == []


def test_a_failure_inside_a_library_points_at_the_learners_own_line() -> None:
    import urllib.parse

    def read_callback(landed_url: str, expected_state: str) -> str:
        urllib.parse.urlsplit("http://[broken")  # raises ValueError inside urllib
        return ""

    problems = REGISTRY["read_callback"].problems(read_callback)
    assert problems and all("of your function" in problem for problem in problems), problems


def test_checks_accept_other_correct_answers_and_name_the_real_mistake() -> None:
    import base64
    import urllib.parse

    def stricter_basic_auth(client_id: str, client_secret: str) -> str:
        def encode(text: str) -> str:
            return "".join(c if c.isalnum() and c.isascii() else urllib.parse.quote(c, safe="") for c in text)
        return "Basic " + base64.b64encode(f"{encode(client_id)}:{encode(client_secret)}".encode()).decode()

    assert REGISTRY["basic_auth"].problems(stricter_basic_auth) == []  # %20 for a space reads the same

    reference = REGISTRY["authorization_url"].reference

    def lower_case_method(*args: str) -> str:
        return reference(*args).replace("code_challenge_method=S256", "code_challenge_method=s256")

    problems = REGISTRY["authorization_url"].problems(lower_case_method)
    assert problems and all("exactly 'S256'" in p and "encode every value" not in p for p in problems), problems
