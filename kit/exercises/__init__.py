"""Exercises: the learner writes a step of the protocol; a check says, in plain words, what is
wrong and where to look; a learner who is stuck is never stuck for long.

The pattern, the same in every notebook:

1. a Markdown cell with the task: what to write, why, and which RFC section says how;
2. ONE code cell the learner edits, tagged `exercise` (View → Cell metadata, or the notebook's
   JSON), that starts unsolved: the function's body is `raise NotImplementedError(...)`;
3. a code cell `name = check_exercise("name", name)`: it runs the learner's function against
   cases (the typical wrong answers among them) and prints ✔ or what is wrong. Whatever the
   outcome, it returns a function the notebook goes on with: the learner's once it passes, the
   reference solution until then, and it says which;
4. a Markdown cell with the worked solution in a collapsed `<details>` block, one click away.

Each exercise is an `Exercise` in this package (one module per notebook), with its reference
solution, its cases and its typical wrong answers; `tests/test_exercises.py` runs every
exercise with its reference (the check passes), with each wrong answer (the check fails with
its explanation), and with the solution shown in the notebook (the check passes).
"""

from __future__ import annotations

import copy
import dataclasses
import traceback
from typing import Any, Callable

# Shown for a value that is too long to print whole.
SHOWN = 60


@dataclasses.dataclass
class Case:
    """One call of the learner's function and what must come of it.

    `expect` is the value the call must return (compared with ==), or, when `raises` is set,
    the exception type the call must raise. `why` says in plain words what a wrong answer to
    this case means and where to look (the RFC section, the cell above)."""

    label: str
    args: tuple[Any, ...]
    why: str
    expect: Any = None
    raises: type[BaseException] | None = None
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Compare with this instead of ==: returns None when the answer is right, else what is wrong.
    judge: Callable[[Any], str | None] | None = None


@dataclasses.dataclass
class WrongAnswer:
    """A typical mistake: the function a learner might write, and words the check's
    explanation must contain for it (tests/test_exercises.py checks both)."""

    function: Callable[..., Any]
    explained_by: str


@dataclasses.dataclass
class Exercise:
    name: str
    reference: Callable[..., Any]
    cases: list[Case]
    wrong_answers: list[WrongAnswer] = dataclasses.field(default_factory=list)

    def problems(self, candidate: Callable[..., Any]) -> list[str]:
        """What is wrong with `candidate`, one sentence per failing case (empty: solved)."""
        found = []
        for case in self.cases:
            problem = self._run(case, candidate)
            if problem is not None:
                found.append(f"{case.label}: {problem} {case.why}")
        return found

    @staticmethod
    def _run(case: Case, candidate: Callable[..., Any]) -> str | None:
        try:
            answer = candidate(*fresh(case.args), **fresh(case.kwargs))
        except NotImplementedError:
            raise
        except Exception as exc:  # the learner's code may raise anything
            if case.raises is not None and isinstance(exc, case.raises):
                return None
            expected = f"raise {case.raises.__name__}" if case.raises else "return a value"
            return (f"it raised {type(exc).__name__}: {shown(str(exc))} ({where_raised(exc, candidate)}), "
                    f"but it should {expected}.")
        if case.raises is not None:
            return f"it returned {shown(repr(answer))}, but it should raise {case.raises.__name__}."
        if case.judge is not None:
            return case.judge(answer)
        if answer != case.expect:
            return f"it returned {shown(repr(answer))}, expected {shown(repr(case.expect))}."
        return None


REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.name in REGISTRY:
        raise ValueError(f"two exercises are named {exercise.name!r}")
    REGISTRY[exercise.name] = exercise
    return exercise


def fresh(value: Any) -> Any:
    """A copy of a case's arguments for one call: a function that changes its arguments (a
    session dict updated in place) must not change what the next case, or the next function
    checked, receives. Values that cannot be copied (a key object) are passed as they are."""
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 (anything deepcopy may raise: TypeError, pickling errors)
        return value


def where_raised(exc: BaseException, candidate: Callable[..., Any]) -> str:
    """The line of the learner's own code the exception came through (not a library's)."""
    own = getattr(getattr(candidate, "__code__", None), "co_filename", None)
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [frame for frame in frames if frame.filename == own]
    frame = (mine or frames)[-1]
    return f"line {frame.lineno} of your function" if mine else f"line {frame.lineno} of {frame.filename}"


def shown(text: str) -> str:
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def check_exercise(name: str, candidate: Callable[..., Any]) -> Callable[..., Any]:
    """Checks the learner's `candidate` for exercise `name`, prints the verdict, and returns the
    function to go on with: `candidate` once it passes, the reference solution until then."""
    _load_all()
    exercise = REGISTRY[name]
    try:
        problems = exercise.problems(candidate)
    except NotImplementedError:
        print(f"✘ {name}: not written yet (it still raises NotImplementedError).")
        print("  The notebook goes on with the reference solution: open \"Solution\" below to compare, "
              "or write yours and run both cells again.")
        return exercise.reference
    if not problems:
        print(f"✔ {name}: all {len(exercise.cases)} cases pass. The notebook goes on with your function.")
        return candidate
    print(f"✘ {name}: {len(problems)} of {len(exercise.cases)} cases fail.")
    for problem in problems:
        print("  -", problem)
    print("  The notebook goes on with the reference solution; fix yours and run both cells again.")
    return exercise.reference


def _load_all() -> None:
    """Imports every notebook's exercises (each module registers its own)."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
