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
    # (distances for N_AUG = 0, 5, 10, ..., section 2's d_without: its map or its mean); numbers as lesson 05 prints
    # them (random-init ResNet50, and raw patches), and the same computation with train and test swapped
    "05.2": ([([148.673, 138.557, 137.171], 148.673), ([7.609, 7.305, 7.163, 6.868], torch.full((18, 22), 7.609)),
              ({0: 148.673, 10: 137.171, 5: 138.557}, np.float64(148.673)), (np.array([3.0, 2.0, 2.0]), 3.0)],
             [([152.1, 144.055, 140.458], 148.673),  # bank of the test frame, searched with the training frame
              [148.673, 138.557, 137.171],  # the list alone: nothing ties it to the lesson's features and frames
              ([7.609, 7.305, 7.163], 148.673),  # raw patches against the ResNet reference
              ([58874.5, 54868.6, 54319.7], 148.673),  # the sum over positions, not the mean
              ([0.0, 0.0, 0.0], 148.673),  # the training picture searched in its own bank
              ([148.673, 148.673, 148.673], 148.673), ([137.171, 138.557, 148.673], 148.673),
              ([148.673, 150.2, 137.171], 148.673), ([148.673, 138.557], 148.673), ([148.673, -1.0, 2.0], 148.673),
              ({5: 138.557, 10: 137.171, 20: 135.0}, 148.673), (3.0, 3.0), ([3.0, 2.0, 1.0], "3")]),
    "07.1": ([(39.4, 28.8), [151.2, 28.4], (np.float32(33.5), torch.tensor(30.0))],
             [(28.8, 39.4), (29.0, 25.0), (31.0, 30.0), 45.0, (True, 1)]),
    # (share_patch_nn, share_gan, share_noise): a GAN may stay in range (lesson mode: 3 pixels of 24,576 leave it),
    # the control (uniform noise: 0.41 of it lies in the cat's range) keeps a measurement that says yes to everything
    "07.2": ([(1.0, 0.99988, 0.41), (0.9995, 0.5, 0.3), (1.0, 1.0, 0.41), (1.0, 0.97, 0.14)],
             [(1.0, 1.0, 1.0),  # the outputs' own range, or [-1, 1]: everything is "in range"
              (1.0, 1.0, 0.98),  # any one channel in range instead of all three
              (1.0, 1.0), (1.0, 0.97),  # no control
              (0.97, 1.0, 0.41), (0.9, 0.8, 0.41), (1.2, 0.9, 0.41), (1.0, -0.1, 0.41), (1.0, 0.97, -0.2), 1.0]),
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


def test_energy_exponent_hints_finish_their_sentence_and_name_a_negative_slope():
    negative, positive = EXERCISES["01.3"].check(-2.0), EXERCISES["01.3"].check(3.0)
    assert "log(1/L)" in negative and "grows as L shrinks" in negative, negative  # the x axis was log L
    assert "grows as L shrinks" not in positive and not positive.rstrip().endswith("scaled"), positive
    assert EXERCISES["01.3"].check(-0.5) == negative


def test_bank_distances_refuse_a_first_entry_other_than_the_lessons_plain_bank():
    hint = EXERCISES["05.2"].check(([152.1, 144.055, 140.458], 148.673))
    assert "test_feats" in hint and "train_pic" in hint, hint
    assert EXERCISES["05.2"].check(([148.7, 138.557, 137.171], 148.673)) is None  # printed to one decimal: 1e-3


def test_copy_share_names_a_control_that_says_yes_to_noise():
    hint = EXERCISES["07.2"].check((1.0, 1.0, 1.0))
    assert "noise" in hint and "pair.image" in hint and "all three" in hint, hint
