"""Self-checks for the lessons' exercises: ``check.ex("01.3", answer)`` says right, or not yet with a hint.

A check tests a *property* of the answer that holds on any machine and any seed (an exponent within a
tolerance of its theoretical value, a ratio that follows from the maths), never one magic number, and a
hint never gives the answer away. Exercises with open answers have no check; the instructor version of a
lesson carries a "what to look for" note for them (a markdown cell tagged ``instructor``, dropped from the
student build, :func:`deepsim_lite.teaching.student.student_notebook`).

Example (the last line of a lesson's solution cell)::

    from deepsim_lite.teaching import check
    check.ex("01.3", exponent)        # prints "✅ 01.3 right: ..." or "❌ 01.3 not yet: <hint>"
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Exercise", "EXERCISES", "Checker", "check"]


def _number(answer: object) -> float | None:
    """A finite real number from ``answer`` (a Python or NumPy number, or a one-element tensor), else None
    (also for True/False and strings: an answer is computed, not typed)."""
    if isinstance(answer, (bool, str, bytes)) or type(answer).__name__ == "bool_":
        return None
    try:
        value = float(answer.item() if hasattr(answer, "item") else answer)  # type: ignore[union-attr]
    except (TypeError, ValueError, RuntimeError):
        return None
    return value if math.isfinite(value) else None


def _two_numbers(answer: object) -> tuple[float | None, float | None]:
    """``(a, b)`` from an answer of two numbers (see :func:`_number`), else ``(None, None)``."""
    try:
        a, b = (_number(v) for v in answer)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None, None
    return a, b


@dataclass(frozen=True)
class Exercise:
    """One checkable exercise: ``check(answer)`` returns None when the answer is right, else a hint."""

    key: str  # "<lesson>.<number>", e.g. "01.3"
    answer_is: str  # what to pass, in words
    right: str  # what a right answer means (printed when it is right)
    check: Callable[[object], str | None]


def _displacement_ratio(answer: object) -> str | None:
    r = _number(answer)
    if r is None:
        return "pass one number: mean |displacement| of the L=5 warps divided by that of the L=20 warps"
    if abs(r - 4) <= 0.2:
        return None
    return ("compare the same number of warps of both distributions, drawn with the same generator seed "
            "(tps.sample_displacements), and divide the mean length of the L=5 displacements by that of the L=20 ones")


def _energy_exponent(answer: object) -> str | None:
    p = _number(answer)
    if p is None:
        return "pass one number: the slope of log J against log(1/L)"
    if abs(p - 2) <= 0.2:
        return None
    if p < 0:  # J does grow with the warps: a negative slope is the fit against log L
        return ("a negative slope says J shrinks as the warps grow; the x axis is log(1/L), which grows as L shrinks: "
                "fit log J against it, not against log L")
    return ("fit log J (bending energy, mean over a dozen warps per L) against log(1/L) for several L, e.g. 5, 10, "
            "20, 40, and pass the slope; draw the warps with the same generator seed for every L, so that they differ "
            "only by their scale")


def _new_label_values(answer: object) -> str | None:
    bilinear, nearest = _two_numbers(answer)
    if bilinear is None or nearest is None or any(v != int(v) or v < 0 for v in (bilinear, nearest)):
        return ("pass two counts, (bilinear, nearest): for each warp mode, the distinct values of the warped label "
                "map that are not labels of the primitive")
    if bilinear >= 1 and nearest == 0:
        return None
    return ("warp the same label map (as floats) with the same grid twice, mode='bilinear' and mode='nearest', and "
            "for each count the values that are not in the primitive's set of labels")


def _undecided_d_loss(answer: object) -> str | None:
    v = _number(answer)
    if v is None:
        return "pass one number: lsgan_loss(real) + lsgan_loss(fake) for a two-scale D that outputs 0.5 everywhere"
    if abs(v - 1.0) <= 1e-4:
        return None
    return ("build the discriminator's output as two scales, each a list whose last item is the patch logits "
            "(e.g. torch.full((1, 1, 8, 8), 0.5)), and add lsgan_loss(..., True) and lsgan_loss(..., False); "
            "help(losses.lsgan_loss) says what each term is")


def _mean(answer: object) -> float | None:
    """:func:`_number`, or the finite mean of a tensor or array of numbers (a distance map), else None."""
    value = _number(answer)
    if value is None and hasattr(answer, "mean") and not isinstance(answer, (bool, str, bytes)):
        try:
            value = _number(answer.float().mean() if hasattr(answer, "float") else answer.mean())  # type: ignore
        except (TypeError, ValueError, RuntimeError, AttributeError):
            return None
    return value


def _bank_distances(answer: object) -> str | None:
    distances, reference = answer if isinstance(answer, (tuple, list)) and len(answer) == 2 else (None, None)
    if isinstance(distances, Mapping):  # {n_aug: distance}: ordered by bank size, which must start at 0
        distances = [distances[k] for k in sorted(distances)] if 0 in distances else [None]
    try:
        values = [_number(v) for v in distances]  # type: ignore[union-attr]
    except TypeError:
        values = [None]
    plain = _mean(reference)
    if len(values) < 3 or any(v is None or v < 0 for v in values) or plain is None or plain <= 0:
        return ("pass (distances, d_without): the mean 1-NN distances, one per bank size starting with N_AUG = 0 (at "
                "least three), and section 2's distance map without TPS")
    # N_AUG = 0 is section 2's plain bank: the same search must give the same mean (a swapped search, other
    # features or a sum over positions give another number)
    if abs(values[0] - plain) > 1e-3 * plain:
        return ("your N_AUG = 0 entry is not section 2's plain-bank distance: search the test frame's features "
                "(test_feats) in banks built from the training picture (train_pic) with the lesson's features, "
                "and pass each map's mean")
    if all(v <= values[0] * (1 + 1e-6) for v in values) and values[-1] < values[0]:
        return None
    return ("every TPS bank contains the unwarped training picture, so what can its nearest neighbour distance do "
            "compared with the plain bank? Use the same test features and order the list by N_AUG, 0 first")


def _dense_bank(answer: object) -> str | None:
    dense, default = _two_numbers(answer)
    if dense is None or default is None:
        return "pass two PSNRs in dB, (psnr_dense, psnr_default): the dense bank's first"
    if dense > default + 3 and dense > 30:
        return None
    return ("shift the primitive AND the photo by one pixel (torch.roll along the width), render the shifted primitive "
            "with PatchNN(pair, PatchNNConfig(bank_stride=1)) and with the default renderer, and compare each with "
            "the shifted photo away from the wrapped border column; the dense one goes first")


_NOISE_IN_RANGE_MAX = 0.9
"""07.2's control: uniform noise over [-1, 1] lies in a photo's per-channel range with probability
prod_c (hi_c - lo_c) / 2 (0.41 for the lesson's cat); a measurement that finds more than this share of noise in
range takes the wrong range (the outputs' own, or [-1, 1]) or counts a pixel when any channel, not all three, is in."""


def _copy_share(answer: object) -> str | None:
    try:
        patch, gan, noise = (_number(v) for v in answer)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        patch = gan = noise = None
    if patch is None or gan is None or noise is None or not all(0 <= v <= 1 for v in (patch, gan, noise)):
        return ("pass three shares between 0 and 1, (share_patch_nn, share_gan, share_noise), the last for uniform "
                "noise over the images' value range, torch.rand_like(pair.image) * 2 - 1: a control, which the "
                "measurement must mostly find out of range")
    if noise > _NOISE_IN_RANGE_MAX:
        return ("your measurement finds random noise in range too: take each channel's range from the photo "
                "(pair.image), and count a pixel only when all three of its channels lie inside")
    if patch >= 0.999 and gan <= patch:
        return None
    return ("a pixel counts when each of its three channels lies between the photo's minimum and maximum of that "
            "channel (pair.image.amin((1, 2)) and amax); allow 1e-4 for rounding, and pass the patch renderer first")


EXERCISES: dict[str, Exercise] = {e.key: e for e in (
    Exercise("01.1", "mean |displacement| of Omega(L=5) warps / that of Omega(L=20) warps",
             "moves scale as 1/L, so L=5 moves the control points four times as far as L=20", _displacement_ratio),
    Exercise("01.3", "the exponent p in J ~ (1/L)^p",
             "J grows as 1/L^2: it is quadratic in the displacements, which scale as 1/L", _energy_exponent),
    Exercise("01.4", "(bilinear, nearest): the number of new label values after a warp in each mode",
             "bilinear sampling invents labels between neighbours: a primitive must be warped with nearest neighbour",
             _new_label_values),
    Exercise("02.6", "D's least-squares loss, real term + fake term, when it outputs 0.5 everywhere (two scales)",
             "0.25 per term and scale: a D that cannot tell real from fake is as far from 1 as from 0",
             _undecided_d_loss),
    Exercise("05.2", "(distances, d_without): the mean 1-NN distance for growing N_AUG, starting with 0, and "
             "section 2's distance map without TPS",
             "a bank with the training picture and its warps can only be closer than the picture alone; the gain "
             "shrinks as warps repeat what earlier ones covered", _bank_distances),
    Exercise("07.1", "(psnr_dense, psnr_default): the primitive shifted by one pixel, rendered with bank_stride=1 "
             "and with the default 2",
             "the dense bank holds every window, so the shifted ones too; the default keeps every other one and its "
             "queries land a pixel off, a blur of copied detail", _dense_bank),
    Exercise("07.2", "(share_patch_nn, share_gan, share_noise): the share of pixels within the photo's colour "
             "range, of each output and of uniform noise (the control)",
             "every pixel the patch renderer makes is an average of training pixels, so it stays in their range; "
             "a generator can leave it", _copy_share),
)}


class Checker:
    """``check.ex(key, answer)`` prints whether ``answer`` is right (and what that means) or a hint;
    ``check.ok(key, answer)`` only says it, as a bool (for code)."""

    def __init__(self, exercises: dict[str, Exercise]) -> None:
        self.exercises = exercises

    def _exercise(self, key: str) -> Exercise:
        if key not in self.exercises:
            raise ValueError(f"no checked exercise {key!r}; checked ones: {', '.join(sorted(self.exercises))}")
        return self.exercises[key]

    def ok(self, key: str, answer: object) -> bool:
        return self._exercise(key).check(answer) is None

    def ex(self, key: str, answer: object) -> None:  # returns nothing: the last line of a cell shows no "True"
        e = self._exercise(key)
        hint = e.check(answer)
        print(f"\u2705 {key} right: {e.right}" if hint is None else f"\u274c {key} not yet: {hint}")


check = Checker(EXERCISES)
