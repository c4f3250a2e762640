"""The lessons' self-checks (teaching/exercises.py): right answers pass, planted wrong ones get a hint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deepsim_lite.teaching.exercises import EXERCISES, check

ROOT = Path(__file__).resolve().parents[2]

# per checked exercise: answers that are right (any machine, any seed) and planted wrong ones
CASES = {
    "01.1": ([4.0, 3.9, np.float64(4.1), torch.tensor(4.0)], [1.0, 0.25, 16.0, -4.0, 4.5, True, "4"]),
    "01.3": ([2.0, 1.95, 2.1], [1.0, 0.5, 3.0, -2.0]),
    "01.4": ([(1, 0), [5, 0], (12.0, 0.0)], [(0, 0), (3, 1), (-1, 0), (2.5, 0), 3, (True, 0)]),
    "02.6": ([1.0, torch.tensor(1.00001)], [0.5, 0.25, 2.0, 0.0, True]),
    "05.2": ([[148.7, 140.2, 131.0, 129.2], (10, 9, 9.5), np.array([3.0, 2.0, 1.0]), {0: 3.0, 10: 1.0, 5: 2.0}],
             [[129.2, 148.7, 131.0], [5.0, 5.0, 5.0], [1.0, 2.0], [3.0, -1.0, 2.0], 3.0, {5: 2.0, 10: 1.0, 20: 0.5}]),
    "07.1": ([(39.4, 28.8), [151.2, 28.4], (np.float32(33.5), torch.tensor(30.0))],
             [(28.8, 39.4), (29.0, 25.0), (31.0, 30.0), 45.0, (True, 1)]),
    "07.2": ([(1.0, 0.97), (0.9995, 0.5), (1.0, 1.0)], [(0.97, 1.0), (0.9, 0.8), (1.2, 0.9), (1.0, -0.1), 1.0]),
}


def test_every_checked_exercise_has_cases_and_appears_in_its_lesson():
    assert set(CASES) == set(EXERCISES)
    for key in EXERCISES:
        book = next((ROOT / "notebooks").glob(f"{key[:2]}_*.ipynb"))
        code = "".join("".join(c["source"]) for c in json.loads(book.read_text())["cells"] if c["cell_type"] == "code")
        assert f'check.ex("{key}"' in code, key


@pytest.mark.parametrize("key", sorted(CASES))
def test_checks_accept_right_answers_and_reject_the_stub_and_wrong_ones(key, capsys):
    right, wrong = CASES[key]
    for answer in right:
        check.ex(key, answer)
        assert check.ok(key, answer) and capsys.readouterr().out.startswith(f"\u2705 {key} right: "), (key, answer)
    for answer in [None, "four", float("nan"), *wrong]:  # None: the stub never produced an answer
        check.ex(key, answer)
        assert not check.ok(key, answer) and capsys.readouterr().out.startswith(f"\u274c {key} not yet: "), answer
    with pytest.raises(ValueError, match="no checked exercise '99.9'"):
        check.ex("99.9", 1)


@pytest.mark.parametrize("key, value", [("01.1", "4"), ("01.3", "2"), ("02.6", "1.0"), ("02.6", "0.25")])
def test_hints_never_state_the_expected_value(key, value):
    import re

    for wrong in (None, -123.0):
        hint = EXERCISES[key].check(wrong)
        assert hint and not re.search(rf"(?<![\w.]){value}(?![\w.])", hint), hint
