"""Layer 1, primitives: what the generator is conditioned on and the pictures it comes from (paper Sec. 3.4).

:mod:`.primitive` the Primitive type (encode / decode, the palette); :mod:`.extract` edges, segmentation,
super-primitive and flow-carried labels from photos; :mod:`.edits` pure edits of a primitive; :mod:`.drawn`
primitives drawn in another program; :mod:`.images` image and primitive files; :mod:`.pairs` a training pair
and the sizes a network accepts; :mod:`.samples` the shipped photos. Imports only the plumbing below it.

``deepsim_lite.primitives`` also names the Primitive type's module, as it did before the subpackages:
``from deepsim_lite.primitives import Primitive, PALETTE`` works.
"""

from .primitive import *  # noqa: F403 — the type's names, at the path they always had
from .primitive import __all__  # noqa: F401
