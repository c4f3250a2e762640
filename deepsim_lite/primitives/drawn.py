"""Hand-drawn primitives: a picture from a painting program, made into the primitive a trained model reads.

The generator knows only the primitive it was trained on: labels painted in their exact colours, edges one
pixel wide as Canny draws them, at the training size. A drawing rarely is: anti-aliased brushes blend two
colours along every stroke's border, JPEG shifts every colour a little, brushes are several pixels wide, the
canvas may be larger. :func:`conform` turns such a drawing into the model's primitive — or refuses it with one
line saying what is wrong, never a silent wrong label:

* **label colours** (``seg``, ``seg_edges``): the model's label colours are :data:`~deepsim_lite.primitives.PALETTE`
  (what :func:`save_canvas`, :func:`~deepsim_lite.primitives.to_rgb` and ``save_primitive`` draw; black is an
  edge in a super-primitive, and so is any pixel darker than half the darkest label colour). A pixel within
  ``snap`` (RGB distance) of one snaps to it. A pixel that does not, but lies near pixels that did, takes the
  label colour — or the main colour of the mix of two or three — nearest to its own among those next to it,
  within twice ``snap`` (anti-aliased borders, JPEG's averaging of colour over 2x2 blocks); this repeats while
  it resolves more. Stray colours left over are JPEG ringing when scattered (many colours, few pixels each) and
  take the label of the nearest resolved pixel; a colour that many pixels share (at least 10, and 0.1%) was
  painted on purpose and is an error naming it, its pixel count and where it is. A palette PNG that keeps this
  toolkit's palette is read by index, exactly.
* **edges**: the picture is binarised at half scale (dark lines on a light canvas, as ``to_rgb`` draws them,
  are inverted first; strokes on a transparent layer are read from its alpha) and lines wider than Canny's
  are thinned to one-pixel skeletons (:func:`thin`, Guo and Hall's parallel thinning).
* **size**: a drawing of another size but the model's aspect ratio (within what rounding the model's sides
  to a multiple allows) is resized — labels nearest neighbour, edges kept thin — and another aspect ratio is
  refused.

Every step that changed something is one line in :attr:`Conformed.notes`.

Example:
    >>> save_canvas("to_paint.png", pair.primitive, scale=3)   # open it in GIMP, Krita, Photoshop, ...
    >>> drawn = conform("to_paint.png", model)                 # ... after painting on it and saving
    >>> print(*drawn.notes, sep="\\n")
    >>> image = model.generate(drawn.primitive)
"""

from __future__ import annotations

import itertools
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from .primitive import EDGE_INDEX, KINDS, PALETTE, Primitive, labels_under_edges, to_rgb

__all__ = ["Target", "Conformed", "conform", "save_canvas", "thin", "SNAP"]

SNAP = 40.0  # largest RGB distance (0..255 per channel) at which a colour snaps to a palette colour
_BLEND_REACH = 2  # a blend pixel's colours must all occur within this many pixels of it
_MIX_SLACK = 2.0  # a mix of colours that occur nearby may be this many times the snap distance off (JPEG noise)
_BLEND_ROUNDS = 64  # at most this many rounds of growing resolved regions into unresolved pixels
_PAINT_MIN_PX, _PAINT_MIN_FRACTION = 10, 0.001  # an unresolved colour this common was painted, not noise
_THICK, _LONG = 1.9, 10  # a line this long with this many pixels per skeleton pixel is 2 px wide: a brush


@dataclass(frozen=True)
class Target:
    """What a model reads: primitive kind, label count, size ``(H, W)`` and the multiple its sides were
    rounded to (which bounds how far a drawing's aspect ratio may differ)."""

    kind: str
    n_labels: int
    size: tuple[int, int]
    multiple: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown primitive kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if (self.kind == "edges") != (self.n_labels == 0):
            raise ValueError(f"a {self.kind} primitive has {'no' if self.kind == 'edges' else 'some'} labels, "
                             f"got n_labels={self.n_labels}")

    @classmethod
    def of(cls, model) -> Target:
        """The target of a :class:`~deepsim_lite.method.model.DeepSIMModel`."""
        return cls(model.config.primitive_kind, model.n_labels, tuple(model.size), model.config.multiple)


@dataclass(frozen=True)
class Conformed:
    """A drawing made into a model's primitive, and one line per step that changed it."""

    primitive: Primitive
    notes: tuple[str, ...] = ()


def conform(drawing: str | os.PathLike | Image.Image | np.ndarray, model, snap: float = SNAP) -> Conformed:
    """Make a hand-drawn primitive readable by ``model`` (module docstring); raise a one-line ``ValueError``
    when it cannot be.

    Args:
        drawing: a picture file (PNG; JPEG works for labels, at a cost), a PIL image, or a uint8 array
            ``(H, W)`` / ``(H, W, 3)`` / ``(H, W, 4)``.
        model: a :class:`~deepsim_lite.method.model.DeepSIMModel` or a :class:`Target`.
        snap: the colour distance within which a pixel snaps to a label colour; lowered automatically to
            0.45 of the distance between the two closest label colours, so no colour could snap to two.
    """
    target = model if isinstance(model, Target) else Target.of(model)
    name, img = _open(drawing)
    notes: list[str] = []
    if target.kind == "edges":
        prim = Primitive(None, _read_edges(img, notes), 0)
    else:
        prim = _read_labels(img, target, snap, name, notes)
    prim = _fit_size(prim, target, name, notes)
    if prim.edges is not None:
        prim = prim.replace(edges=_thin_if_thick(prim.edges, notes))
    return Conformed(prim, tuple(notes))


def save_canvas(path: str | os.PathLike, primitive: Primitive, scale: int = 1) -> None:
    """Write the picture of ``primitive`` to paint on in another program: its label colours and black edges
    (:func:`~deepsim_lite.primitives.to_rgb`; black lines on white for edges only), ``scale`` times its size
    (nearest neighbour, so every colour stays exact). :func:`conform` reads the painted file back."""
    from .images import save_image

    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or not 1 <= scale <= 16:
        raise ValueError(f"scale must be an integer from 1 to 16, got {scale!r}")
    rgb = to_rgb(primitive)
    save_image(path, np.repeat(np.repeat(rgb, int(scale), 0), int(scale), 1))


def _open(drawing) -> tuple[str, Image.Image]:
    if isinstance(drawing, (str, os.PathLike)):
        from .images import _read_pil  # the checked reader (missing file, not an image, decompression bombs)

        return Path(drawing).name, _read_pil(drawing)
    if isinstance(drawing, Image.Image):
        return "the drawing", drawing
    arr = np.asarray(drawing)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"a drawing array must be uint8 (H, W), (H, W, 3) or (H, W, 4), got {arr.dtype} "
                         f"{arr.shape}")
    return "the drawing", Image.fromarray(arr)


# -- edges
def _read_edges(img: Image.Image, notes: list[str]) -> torch.Tensor:
    """``(H, W)`` bool edges of any picture: palette index 255 in a file of this toolkit's palette (a
    super-primitive), its alpha if it has transparent pixels, else its brightness."""
    if img.mode == "P" and _keeps_our_palette(img):
        return torch.from_numpy(np.array(img) == EDGE_INDEX)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    alpha = np.array(img.convert("RGBA"))[..., 3] if has_alpha else None
    if alpha is not None and alpha.min() < 255:
        level = alpha.astype(np.float32) / 255
        notes.append("read the strokes from the transparency (alpha) of the drawing")
    else:
        if img.mode.startswith("I"):  # 16-bit gray: its full scale from the mode, as images.load_image does
            from .images import _gray_levels

            values, full = _gray_levels(img)
            level = values.astype(np.float32) / full
        else:
            level = np.array(img.convert("L")).astype(np.float32) / 255
        if np.median(level) > 0.5:
            level = 1 - level
            notes.append("dark lines on a light canvas: inverted to light edges on dark, as Canny draws them")
    if np.any((level > 0.02) & (level < 0.98)):
        notes.append("gray (anti-aliased) pixels binarised at half scale")
    edges = level > 0.5
    if not edges.any():
        raise ValueError("the drawing holds no edge (no line darker or lighter than half scale); draw the edges "
                         "as lines on a plain canvas")
    return torch.from_numpy(edges)


def _thin_if_thick(edges: torch.Tensor, notes: list[str]) -> torch.Tensor:
    """Thin each 8-connected line drawn with a brush; lines as thin as Canny's stay exactly as they are.

    A line is a brush stroke when at least half as many of its pixels as its skeleton has are inside it (all
    four neighbours set: 3 px wide or more), or when it is long (10+ px) and twice as many pixels as its
    skeleton (2 px wide). Canny's lines have almost no inside pixels and 1.1–1.7 pixels per skeleton pixel
    (measured on the shipped photos at 96–256 px)."""
    e = edges.cpu().numpy()
    pieces, n = ndimage.label(e, np.ones((3, 3)))
    skeleton = thin(e)
    inside = ndimage.binary_erosion(e, np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool))

    def per_piece(mask: np.ndarray) -> np.ndarray:
        return np.bincount(pieces[mask], minlength=n + 1)[1:]

    size, length, core = per_piece(e), np.maximum(per_piece(skeleton), 1), per_piece(inside)
    brush = (core >= 0.5 * length) | ((size >= _THICK * length) & (length >= _LONG))
    if not brush.any():
        return edges
    thick = np.concatenate([[False], brush])[pieces]
    notes.append(f"{int(brush.sum())} brush-drawn lines about {e[thick].sum() / skeleton[thick].sum():.1f} px wide "
                 "thinned to 1-px skeletons (the width of the training edges)")
    return torch.from_numpy(np.where(thick, skeleton, e))


# Guo & Hall (1989), "Parallel thinning with two-subiteration algorithms", written from the paper's conditions.
# A pixel's eight neighbours x1..x8 run counterclockwise from east (x1 E, x2 NE, x3 N, ..., x8 SE); bit i-1 of
# a neighbourhood code is x_i. A foreground pixel is deleted in a subiteration when
#   G1: C(p) = #{i = 1..4 : not x(2i-1) and (x(2i) or x(2i+1))} == 1       (exactly one 8-connected neighbour run)
#   G2: 2 <= min(N1, N2) <= 3, N1 = sum_k (x(2k-1) or x(2k)), N2 = sum_k (x(2k) or x(2k+1))   (not an end point)
#   G3 (first): (x2 or x3 or not x8) and x1 == 0;   G3' (second): (x6 or x7 or not x4) and x5 == 0
def _guo_hall_tables() -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(256)
    x = [None] + [(codes >> (i - 1)) & 1 == 1 for i in range(1, 9)] + [(codes & 1) == 1]  # x[9] = x[1]
    c = sum((~x[2 * i - 1] & (x[2 * i] | x[2 * i + 1])).astype(int) for i in range(1, 5))
    n1 = sum((x[2 * k - 1] | x[2 * k]).astype(int) for k in range(1, 5))
    n2 = sum((x[2 * k] | x[2 * k + 1]).astype(int) for k in range(1, 5))
    g12 = (c == 1) & (np.minimum(n1, n2) >= 2) & (np.minimum(n1, n2) <= 3)
    first = g12 & ~((x[2] | x[3] | ~x[8]) & x[1])
    second = g12 & ~((x[6] | x[7] | ~x[4]) & x[5])
    return first, second


_DELETE = _guo_hall_tables()
# neighbour weights laid out as the image: row above (NW, N, NE), the row (W, -, E), row below (SW, S, SE)
_WEIGHTS = np.array([[8, 4, 2], [16, 0, 1], [32, 64, 128]])


def thin(mask: np.ndarray) -> np.ndarray:
    """Thin a binary ``(H, W)`` mask to one-pixel-wide curves, keeping its 8-connected pieces and end points.

    Guo–Hall parallel thinning, iterated until nothing changes. Pixels outside the mask count as background.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"thin needs an (H, W) mask, got shape {m.shape}")
    out = m.astype(np.uint8)
    while True:
        before = int(out.sum())
        for table in _DELETE:
            code = ndimage.correlate(out, _WEIGHTS, mode="constant")
            out[table[code] & (out == 1)] = 0
        if int(out.sum()) == before:
            return out.astype(bool)


# -- labels
def _read_labels(img: Image.Image, target: Target, snap: float, name: str, notes: list[str]) -> Primitive:
    with_edges = target.kind == "seg_edges"
    if img.mode == "P" and _keeps_our_palette(img):
        idx = np.array(img).astype(np.int64)
        if not with_edges and (idx == EDGE_INDEX).any():
            raise ValueError(f"{name} holds edges (palette index {EDGE_INDEX}) but the model reads labels only "
                             "(seg); save the primitive without edges")
        edge = idx == EDGE_INDEX if with_edges else None
        return _labels_primitive(idx, edge, target, name)
    if img.mode in ("L", "I", "I;16", "I;16B", "I;16L", "I;16N"):
        values = np.array(img).astype(np.int64)
        if with_edges or values.max() >= target.n_labels:
            what = "a super-primitive (seg_edges) needs colours: labels and black edges" if with_edges else \
                f"its gray values go up to {values.max()} but the model knows labels 0..{target.n_labels - 1}"
            raise ValueError(f"{name} is a gray picture; {what}; paint on a canvas from ds.drawn.save_canvas")
        notes.append("gray label map: each gray value read as the label of that number")
        return _labels_primitive(values, None, target, name)
    if img.mode in ("RGBA", "LA", "PA") and np.array(img.convert("RGBA"))[..., 3].min() < 255:
        raise ValueError(f"{name} has transparent pixels; a label map needs a colour everywhere: flatten it onto "
                         "the label colours and save it again")
    rgb = np.array(img.convert("RGB"))
    colours = PALETTE[: target.n_labels].astype(np.float64)
    if with_edges:
        colours = np.concatenate([colours, PALETTE[EDGE_INDEX][None].astype(np.float64)])
    dark = _dark_lines(rgb, colours[:-1]) if with_edges else None
    idx = _snap_colours(rgb, colours, snap, name, notes, preset=dark)
    return _labels_primitive(idx, idx == target.n_labels if with_edges else None, target, name)


def _keeps_our_palette(img: Image.Image) -> bool:
    """Whether a palette image's used indices still carry this toolkit's colours (an index is then a label)."""
    palette = np.array(img.getpalette() or [], np.uint8).reshape(-1, 3)
    used = np.unique(np.array(img))
    return bool(len(palette) > used.max() and np.array_equal(palette[used], PALETTE[used]))


def _labels_primitive(labels: np.ndarray, edge: np.ndarray | None, target: Target, name: str) -> Primitive:
    """The primitive of a label index map (edge pixels, if any, take the label of the nearest non-edge pixel)."""
    if edge is not None:
        try:
            labels = labels_under_edges(labels, edge)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    if labels.max() >= target.n_labels:
        raise ValueError(f"{name} uses label {int(labels.max())} but the model knows {target.n_labels} labels "
                         f"(0..{target.n_labels - 1}); paint only with the model's labels")
    return Primitive(torch.from_numpy(labels.astype(np.int64)), None if edge is None else torch.from_numpy(edge),
                     target.n_labels)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _dark_lines(rgb: np.ndarray, label_colours: np.ndarray) -> np.ndarray:
    """Pixels darker than half the darkest label colour: edges drawn in black, whatever tint a JPEG gave them."""
    return _luminance(rgb) < 0.5 * _luminance(label_colours).min()


def _snap_colours(rgb: np.ndarray, colours: np.ndarray, snap: float, name: str, notes: list[str],
                  preset: np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` index into ``colours`` of every pixel of ``rgb`` (module docstring), or a one-line error.
    ``preset``: pixels known to be the last colour (dark lines in a super-primitive)."""
    k = len(colours)
    if k > 1:
        gaps = np.linalg.norm(colours[:, None] - colours[None], axis=-1)[np.triu_indices(k, 1)]
        snap = min(snap, 0.45 * float(gaps.min()))
    h, w, _ = rgb.shape
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    uniq, inverse = np.unique(codes.ravel(), return_inverse=True)
    inverse = inverse.reshape(h, w)
    ucol = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1).astype(np.float64)
    dist = np.linalg.norm(ucol[:, None] - colours[None], axis=-1)  # (U, K)
    idx = np.where(dist.min(1) <= snap, dist.argmin(1), -1)[inverse]
    exact = (dist.min(1) == 0)[inverse]
    if preset is not None:
        darkened = preset & (idx != k - 1)
        idx[preset] = k - 1
        if darkened.any():
            notes.append(f"{int(darkened.sum())} dark pixels (below half the darkest label's brightness) read as "
                         "edges")
    snapped = (idx >= 0) & ~exact & ~(darkened if preset is not None else False)
    if snapped.any():
        notes.append(f"{int(snapped.sum())} pixels ({snapped.mean():.1%}) of nearly-right colour snapped to the "
                     f"nearest label colour (within {snap:.0f} of 255)")
    if not (idx < 0).any():
        return idx
    blended, stretched = _resolve_blends(idx, inverse, ucol, colours, snap)
    foreign = _foreign_paint((idx < 0) | stretched, rgb)
    if foreign.any():
        raise ValueError(_unknown_colours(foreign, codes, name, colours))
    if blended:
        notes.append(f"{blended} pixels ({blended / (h * w):.1%}) of blended or noisy colour (anti-aliasing, JPEG) "
                     "took the label colour next to them that they are nearest to or mostly mixed from")
    left = idx < 0
    if left.any():
        _, (iy, ix) = ndimage.distance_transform_edt(left, return_indices=True)
        idx[left] = idx[iy[left], ix[left]]
        notes.append(f"{int(left.sum())} scattered pixels of stray colour (JPEG ringing) took the label of the "
                     "nearest pixel that has one")
    return idx


def _foreign_paint(suspect: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The ``suspect`` pixels painted in a colour of their own: a coarse colour (16 levels a channel) that at
    least ``max(10, 0.1%)`` of the pixels share. The rest is scattered noise (many colours, few pixels each)."""
    out = np.zeros_like(suspect)
    if not suspect.any():
        return out
    coarse = (rgb[suspect].astype(np.int64) >> 4) @ np.array([256, 16, 1])
    _, inverse, counts = np.unique(coarse, return_inverse=True, return_counts=True)
    out[suspect] = counts[inverse] >= max(_PAINT_MIN_PX, _PAINT_MIN_FRACTION * suspect.size)
    return out


def _resolve_blends(idx: np.ndarray, inverse: np.ndarray, ucol: np.ndarray, colours: np.ndarray,
                    snap: float) -> tuple[int, np.ndarray]:
    """Give unresolved pixels (-1 in ``idx``, changed in place) the main colour of the nearest label colour or
    mix of two or three, among the label colours next to them, within ``_MIX_SLACK * snap``; repeat while that
    resolves more (resolved regions grow into JPEG-noisy areas).

    Two colours mix along an anti-aliased border; three along a 1-px edge between two regions once JPEG has
    averaged the colour of 2x2 blocks (chroma subsampling). Returns how many pixels got a label, and the mask
    of those matched to ONE colour farther than ``snap`` (a different colour painted next to a label colour
    looks like that; :func:`_foreign_paint` judges them)."""
    k, done, stretched = len(colours), 0, np.zeros(idx.shape, bool)
    foot = np.ones((2 * _BLEND_REACH + 1,) * 2, bool)
    for _ in range(_BLEND_ROUNDS):
        open_ = idx < 0
        if not open_.any():
            break
        present = np.zeros((k, int(open_.sum())), bool)
        for j in np.unique(idx[idx >= 0]):
            present[j] = ndimage.binary_dilation(idx == j, foot)[open_]
        active = [j for j in range(k) if present[j].any()]  # only colours next to an open pixel can mix there
        cols = ucol[inverse[open_]]  # (P, 3): colours of the unresolved pixels
        best, choice, single = np.full(len(cols), np.inf), np.full(len(cols), -1), np.zeros(len(cols), bool)
        for mix in (m for n in (1, 2, 3) for m in itertools.combinations(active, n)):
            near = present[list(mix)].all(0)
            if not near.any():
                continue
            d, main = _nearest_mix(cols[near], colours[list(mix)])
            better = (d <= _MIX_SLACK * snap) & (d < best[near])
            where = np.flatnonzero(near)[better]
            best[where], choice[where] = d[better], np.asarray(mix)[main[better]]
            single[where] = (len(mix) == 1) & (d[better] > snap)
        if not (choice >= 0).any():
            break
        fill, grew = idx[open_], stretched[open_]
        fill[choice >= 0] = choice[choice >= 0]
        grew[choice >= 0] = single[choice >= 0]
        idx[open_], stretched[open_] = fill, grew
        done += int((choice >= 0).sum())
    return done, stretched


def _nearest_mix(points: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each point ``(P, 3)`` to the mixes (convex combinations) of 1, 2 or 3 ``corners`` and
    the index of the corner with the largest share in the nearest mix."""
    a, rest = corners[0], corners[1:] - corners[0]  # mixes: a + rest.T @ w, w >= 0, sum(w) <= 1
    if not len(rest):  # one colour
        return np.linalg.norm(points - a, axis=1), np.zeros(len(points), int)
    gram = rest @ rest.T
    if len(rest) == 2 and abs(np.linalg.det(gram)) < 1e-9:  # three colours on a line: their pairs cover it
        return np.full(len(points), np.inf), np.zeros(len(points), int)
    w = np.linalg.solve(gram, rest @ (points - a).T).T  # (P, n) unconstrained least squares
    if len(rest) == 1:
        w = np.clip(w, 0, 1)
        ok = np.ones(len(points), bool)
    else:
        ok = (w >= 0).all(1) & (w.sum(1) <= 1)  # outside the triangle its edges (the pairs) are nearer
    shares = np.concatenate([1 - w.sum(1, keepdims=True), w], 1)
    d = np.linalg.norm(points - (a + w @ rest), axis=1)
    return np.where(ok, d, np.inf), shares.argmax(1)


def _unknown_colours(bad: np.ndarray, codes: np.ndarray, name: str, colours: np.ndarray) -> str:
    found, counts = np.unique(codes[bad], return_counts=True)
    order = np.argsort(-counts)
    parts = []
    for i in order[:3]:
        ys, xs = np.nonzero(bad & (codes == found[i]))
        parts.append(f"#{int(found[i]):06x} ({int(counts[i])} px, y {ys.min()}-{ys.max()}, x {xs.min()}-{xs.max()})")
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    allowed = " ".join(f"#{int(c[0]):02x}{int(c[1]):02x}{int(c[2]):02x}" for c in colours)
    return (f"{name}: {len(found)} colour(s) in {int(bad.sum())} pixels are neither a label colour of the model nor "
            f"a mix of those next to them: {', '.join(parts)}{more}; paint only with {allowed}")


# -- size
def _fit_size(prim: Primitive, target: Target, name: str, notes: list[str]) -> Primitive:
    if prim.size == target.size:
        return prim
    (h, w), (th, tw) = prim.size, target.size
    # the model's sides were rounded to a multiple: its aspect ratio may be off the photo's by this much
    slack = (target.multiple / 2) / th + (target.multiple / 2) / tw + 1 / h + 1 / w
    if abs((h / w) / (th / tw) - 1) > slack:
        raise ValueError(f"{name} is {h}x{w} (aspect {w / h:.2f}) but the model was trained at {th}x{tw} (aspect "
                         f"{tw / th:.2f}); crop it to the model's aspect ratio (any size) and try again")
    from .pairs import resize_pair

    notes.append(f"resized from {h}x{w} to the model's {th}x{tw} (labels nearest neighbour, edges kept thin)")
    return resize_pair(None, prim, target.size)[1]
