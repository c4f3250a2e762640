"""The primitive type (paper Sec. 3.4): edges, a segmentation, or both (the super-primitive).

A *primitive* is the editable representation the generator is conditioned on. The paper uses
three: an edge map (fine detail), a segmentation (high-level layout) and both at once, the
"super-primitive" (SP). Here a primitive is a small frozen dataclass, :class:`Primitive`, holding
an ``(H, W)`` int64 label map and/or an ``(H, W)`` bool edge map. The network never sees it
directly: :func:`encode` turns it into ``(C_p, H, W)`` float channels (one-hot labels followed by
one edge channel, DESIGN.md) and :func:`decode` inverts that exactly.

Example:
    >>> import deepsim_lite as ds
    >>> image = ds.load_sample("chelsea", max_side=128).image     # (3, H, W) in [-1, 1]
    >>> prim = ds.make_primitive(image, "seg_edges", n_segments=6)     # see extract.py
    >>> x = ds.encode(prim)                                         # (prim.channels, H, W)
    >>> ds.decode(x, prim.n_labels, has_edges=True) == prim
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .._image import check_size, from_uint8

__all__ = [
    "KINDS",
    "Primitive",
    "labels_from_levels",
    "labels_under_edges",
    "describe_channels",
    "check_reads",
    "check_label_map",
    "encode",
    "decode",
    "to_rgb",
    "to_picture",
    "name_labels",
    "colour_name",
    "PALETTE",
    "EDGE_INDEX",
]

KINDS = ("edges", "seg", "seg_edges")

# Palette index reserved for edge pixels in super-primitive PNGs (labels use 0..254).
EDGE_INDEX = 255


def _make_palette() -> np.ndarray:
    """A stable (256, 3) uint8 palette: 20 hand-picked distinct colours, then golden-ratio hues."""
    base = [
        (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
        (213, 94, 0), (204, 121, 167), (120, 94, 240), (148, 103, 189), (140, 86, 75),
        (188, 189, 34), (23, 190, 207), (255, 152, 150), (174, 199, 232), (152, 223, 138),
        (197, 176, 213), (219, 219, 141), (158, 218, 229), (247, 182, 210), (127, 127, 127),
    ]
    hsv = np.zeros((256 - len(base), 1, 3), np.uint8)
    hsv[:, 0, 0] = ((np.arange(len(hsv)) * 0.618034 % 1.0) * 180).astype(np.uint8)
    i = np.arange(len(hsv))
    hsv[:, 0, 1] = 120 + (i * 37) % 130  # vary saturation and value too: 180 hues are not enough
    hsv[:, 0, 2] = 150 + (i * 53) % 100
    extra = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[:, 0]
    palette = np.concatenate([np.array(base, np.uint8), extra])
    palette[EDGE_INDEX] = (0, 0, 0)
    return palette


PALETTE = _make_palette()


@dataclass(frozen=True, eq=False)
class Primitive:
    """An editable primitive: a label map, an edge map, or both (the super-primitive).

    Attributes:
        labels: ``(H, W)`` int64 with values in ``[0, n_labels)``, or None for edges only.
        edges: ``(H, W)`` bool, True on an edge pixel, or None for segmentation only.
        n_labels: number of label channels the network expects (may exceed the labels present,
            e.g. after an edit removed a region); 0 when ``labels`` is None.
    """

    labels: torch.Tensor | None = None
    edges: torch.Tensor | None = None
    n_labels: int = 0

    def __post_init__(self) -> None:
        if self.labels is None and self.edges is None:
            raise ValueError("a Primitive needs labels, edges or both; got neither")
        if self.labels is not None:
            check_label_map(self.labels, self.n_labels)
        elif self.n_labels != 0:
            raise ValueError(f"n_labels={self.n_labels} given but the primitive has no label map")
        if self.edges is not None:
            if not isinstance(self.edges, torch.Tensor) or self.edges.ndim != 2:
                raise ValueError(f"edges must be an (H, W) tensor, got {getattr(self.edges, 'shape', self.edges)}")
            if self.edges.dtype != torch.bool:
                raise ValueError(f"edges must be a bool tensor, got {self.edges.dtype}; use edges > 0")
            check_size(*self.edges.shape, name="edge map")
        if self.labels is not None and self.edges is not None and self.labels.shape != self.edges.shape:
            raise ValueError(
                f"label map {tuple(self.labels.shape)} and edge map {tuple(self.edges.shape)} differ in size"
            )

    @property
    def kind(self) -> str:
        """``"edges"``, ``"seg"`` or ``"seg_edges"``."""
        if self.labels is None:
            return "edges"
        return "seg" if self.edges is None else "seg_edges"

    @property
    def has_edges(self) -> bool:
        return self.edges is not None

    @property
    def channels(self) -> int:
        """Number of network input channels ``C_p`` of :func:`encode`."""
        return self.n_labels + int(self.edges is not None)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        ref = self.labels if self.labels is not None else self.edges
        return int(ref.shape[0]), int(ref.shape[1])

    def replace(self, **changes) -> Primitive:
        """A copy with some fields replaced (validated again)."""
        fields = {"labels": self.labels, "edges": self.edges, "n_labels": self.n_labels}
        fields.update(changes)
        return Primitive(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Primitive):
            return NotImplemented
        return (
            self.n_labels == other.n_labels
            and _same(self.labels, other.labels)
            and _same(self.edges, other.edges)
        )

    __hash__ = None  # mutable tensors inside: not hashable

    def __repr__(self) -> str:
        h, w = self.size
        return f"Primitive(kind={self.kind!r}, size=({h}, {w}), n_labels={self.n_labels})"


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu()))


def check_label_map(labels: torch.Tensor, n_labels: int | None = None) -> torch.Tensor:
    """Validate an ``(H, W)`` int64 label map with values in ``[0, n_labels)``; return it.

    Raises:
        ValueError: wrong type/shape/dtype, negative labels, or labels ``>= n_labels``.
    """
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"label map must be a torch.Tensor (H, W) int64, got {type(labels).__name__}")
    if labels.ndim != 2:
        raise ValueError(f"label map must have shape (H, W), got {tuple(labels.shape)}")
    if labels.dtype != torch.int64:
        raise ValueError(f"label map must be int64, got {labels.dtype}; use labels.long()")
    check_size(*labels.shape, name="label map")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0:
        raise ValueError(f"label map has negative label {lo}; labels must be 0..K-1")
    if n_labels is not None and n_labels > 0 and hi >= n_labels:
        raise ValueError(
            f"label map has label {hi} but the model knows {n_labels} labels (0..{n_labels - 1}); "
            "paint only with existing labels"
        )
    if n_labels is not None and n_labels <= 0:
        raise ValueError(f"n_labels must be positive for a label map, got {n_labels}")
    return labels


def labels_from_levels(values: np.ndarray | torch.Tensor, levels: list[int] | None = None) -> torch.Tensor:
    """Map the gray levels of a user label image to contiguous labels ``0..K-1``.

    Args:
        values: ``(H, W)`` integer array (e.g. a gray PNG with one level per region).
        levels: the gray level of each label, in label order; None -> the sorted distinct
            values. Pass the training image's levels when mapping an edited label image so
            label numbers stay the same even when an edit removes a region.

    Returns:
        ``(H, W)`` int64 label map.
    """
    v = torch.as_tensor(np.asarray(values)).long()
    if v.ndim != 2:
        raise ValueError(f"label image must have shape (H, W), got {tuple(v.shape)}")
    lv = torch.unique(v) if levels is None else torch.as_tensor(levels).long()
    lut = {int(x): i for i, x in enumerate(lv.tolist())}
    unknown = sorted(set(torch.unique(v).tolist()) - set(lut))
    if unknown:
        raise ValueError(f"label image has gray levels {unknown[:5]} that are not among the known levels {lv.tolist()}")
    table = torch.full((int(v.max()) + 1,), -1, dtype=torch.long)
    for level, i in lut.items():
        if level <= int(v.max()):
            table[level] = i
    return table[v]


def describe_channels(n_labels: int, has_edges: bool) -> str:
    """What a network reads, in words for messages: ``"8 labels + edges"``, ``"0 labels + edges"``."""
    return f"{n_labels} labels" + (" + edges" if has_edges else "")


def check_reads(primitive: object, n_labels: int, has_edges: bool, reader: str, detail: str = "") -> None:
    """Raise a one-line ``ValueError`` unless ``primitive`` is a :class:`Primitive` with ``n_labels`` labels and an
    edge map exactly when ``has_edges``; the message starts with ``reader`` (e.g. "the model was trained on")."""
    if not isinstance(primitive, Primitive):
        raise ValueError(f"expected a Primitive, got {type(primitive).__name__}")
    if primitive.n_labels != n_labels or primitive.has_edges != has_edges:
        raise ValueError(f"{reader} a {describe_channels(n_labels, has_edges)} primitive{detail}; got "
                         f"{describe_channels(primitive.n_labels, primitive.has_edges)}")


def labels_under_edges(labels: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``labels`` ``(H, W)`` with each edge pixel given the label of its nearest non-edge pixel (a file or a
    drawing of a super-primitive paints edges over the labels; the network reads both on an edge pixel)."""
    from scipy import ndimage

    if edges.all():
        raise ValueError("every pixel is an edge; no label left")
    if not edges.any():
        return labels
    _, (iy, ix) = ndimage.distance_transform_edt(edges, return_indices=True)
    return labels[iy, ix]


# ----------------------------------------------------------------------------------------------
# Encoding and displaying primitives


def encode(primitive: Primitive, device: torch.device | str | None = None) -> torch.Tensor:
    """Network input of a primitive: ``(C_p, H, W)`` float32, one-hot labels then the edge channel.

    ``C_p = n_labels + has_edges``; every value is 0 or 1, and on each pixel exactly one of
    the first ``n_labels`` channels is 1.
    """
    h, w = primitive.size
    chans = []
    if primitive.labels is not None:
        onehot = torch.nn.functional.one_hot(primitive.labels.to(device), primitive.n_labels)
        chans.append(onehot.permute(2, 0, 1).float())
    if primitive.edges is not None:
        chans.append(primitive.edges.to(device).float()[None])
    out = torch.cat(chans, 0)
    assert out.shape == (primitive.channels, h, w)
    return out


def decode(x: torch.Tensor, n_labels: int, has_edges: bool) -> Primitive:
    """Inverse of :func:`encode`: ``(C_p, H, W)`` (or ``(1, C_p, H, W)``) -> :class:`Primitive`.

    Labels are the argmax of the first ``n_labels`` channels; an edge is a value > 0.5 in the
    last channel. Exact for anything :func:`encode` produced, including nearest-neighbour warps.
    """
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    expected = n_labels + int(has_edges)
    if x.ndim != 3 or x.shape[0] != expected:
        raise ValueError(
            f"encoded primitive must be ({expected}, H, W) for {n_labels} labels"
            f"{' + edges' if has_edges else ''}, got {tuple(x.shape)}"
        )
    x = x.detach().cpu()
    labels = x[:n_labels].argmax(0).long() if n_labels > 0 else None
    edges = (x[-1] > 0.5) if has_edges else None
    return Primitive(labels, edges, n_labels)


def to_rgb(primitive: Primitive) -> np.ndarray:
    """Displayable ``(H, W, 3)`` uint8 picture of a primitive.

    Labels use the stable :data:`PALETTE` (label k always has the same colour); edges are drawn
    black on top; an edge-only primitive is black lines on white, as in edges2photo datasets.
    """
    h, w = primitive.size
    if primitive.labels is not None:
        out = PALETTE[primitive.labels.cpu().numpy()]
    else:
        out = np.full((h, w, 3), 255, np.uint8)
    if primitive.edges is not None:
        out = out.copy()
        out[primitive.edges.cpu().numpy()] = PALETTE[EDGE_INDEX]
    return out


def to_picture(primitive: Primitive) -> torch.Tensor:
    """The :func:`to_rgb` picture as an image tensor ``(3, H, W)`` in [-1, 1] (what patch features see)."""
    return from_uint8(to_rgb(primitive))


_HUES = ((15, "red"), (45, "orange"), (65, "yellow"), (170, "green"), (200, "cyan"), (255, "blue"),
         (290, "purple"), (345, "pink"), (360, "red"))  # upper hue bound (degrees) -> colour word


def colour_name(rgb: tuple[float, float, float] | np.ndarray) -> str:
    """A plain-words name of an sRGB colour (0..255): ``"dark brown"``, ``"light grey"``, ``"blue"``.

    Greys (saturation < 0.2, or a chroma under 8% that no eye tells from grey in a dark colour) are named by
    lightness; other colours by hue (orange up to 45 degrees, so the palette's amber (230, 159, 0) is orange), then:

    * brown is a dark or greyish orange: orange hues below 65% value, or with saturation under 0.5 ("light brown"
      from 60% value, as tan; "light orange" from 85%, as peach), dull dark reds (saturation under 0.6), and very
      dark reds (below 35% value: coffee);
    * a dark saturated red is "dark red" (maroon), a dark yellow "olive";
    * otherwise "dark " below 35% value, and "light " above 80% value with little saturation.
    """
    r, g, b = (float(v) / 255 for v in rgb)
    hi, lo = max(r, g, b), min(r, g, b)
    sat = 0.0 if hi == 0 else (hi - lo) / hi
    if sat < 0.2 or hi - lo < 0.08:
        return next(name for bound, name in ((0.2, "black"), (0.45, "dark grey"), (0.7, "grey"),
                                             (0.88, "light grey"), (1.01, "white")) if hi < bound)
    if hi == r:
        hue = (60 * (g - b) / (hi - lo)) % 360
    elif hi == g:
        hue = 60 * (b - r) / (hi - lo) + 120
    else:
        hue = 60 * (r - g) / (hi - lo) + 240
    word = next(name for bound, name in _HUES if hue < bound)
    if (word == "orange" and (hi < 0.65 if sat >= 0.5 else hi < 0.85)
            or word == "red" and (hi < 0.35 or sat < 0.6 and hi < 0.65)):
        return "dark brown" if hi < 0.35 else "brown" if hi < 0.6 or sat >= 0.5 else "light brown"
    if word == "red" and hi < 0.6:
        return "dark red"
    if word == "yellow" and hi < 0.6:
        return "olive"
    if hi < 0.35:
        return "dark " + word
    return "light " + word if hi > 0.8 and sat < 0.45 else word


def _place(cy: float, cx: float) -> str:
    """Where a point lies, in thirds of the picture (fractions of height and width): "top left", "centre"."""
    row = ("top", "middle", "bottom")[min(int(cy * 3), 2)]
    col = ("left", "centre", "right")[min(int(cx * 3), 2)]
    if row == "middle":
        return "centre" if col == "centre" else col
    return row if col == "centre" else f"{row} {col}"


def name_labels(primitive: Primitive, image: np.ndarray) -> list[str]:
    """A readable name for each label of ``primitive``: where it lies and its mean colour in ``image``.

    The editor shows each label as a chip in the label's palette colour (:data:`PALETTE`), which has nothing to
    do with the photo; so the name says where the photo's colour is meant: ``"top left, dark brown in the photo"``.

    Args:
        primitive: a primitive with labels (``n_labels`` > 0).
        image: ``(H, W, 3)`` uint8 RGB at the primitive's size (the photo the labels were made from).

    Returns:
        ``n_labels`` names such as ``"top left, dark brown in the photo"`` (place in thirds of the picture, from
        the label's centroid; colour by :func:`colour_name`); a label absent from the map is ``"unused"``; when
        two labels would get the same name (same third, same colour word), the later ones get " (2)", " (3)".
    """
    if primitive.labels is None:
        raise ValueError("name_labels needs a primitive with labels (kind 'seg' or 'seg_edges'), got edges only")
    if image.shape != (*primitive.size, 3) or image.dtype != np.uint8:
        raise ValueError(f"expected a ({primitive.size[0]}, {primitive.size[1]}, 3) uint8 image, "
                         f"got {image.shape} {image.dtype}")
    labels = primitive.labels.cpu().numpy()
    h, w = labels.shape
    names: list[str] = []
    for k in range(primitive.n_labels):
        ys, xs = np.nonzero(labels == k)
        if not len(ys):
            names.append("unused")
            continue
        colour = image[ys, xs].reshape(-1, 3).mean(0)
        names.append(f"{_place((ys.mean() + 0.5) / h, (xs.mean() + 0.5) / w)}, {colour_name(colour)} in the photo")
    seen: dict[str, int] = {}
    for k, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[k] = f"{name} ({seen[name]})"
    return names
