"""as_renderer (widgets/renderer.py): what the editor renders with, checked against the primitive."""

import warnings

import pytest
import torch
from _widgets import Recorder, _prim

import deepsim_lite as ds
from deepsim_lite.teaching.widgets import as_renderer


def test_as_renderer_checks_the_model_against_the_primitive(tmp_path):
    p = _prim()
    rec = Recorder(p)
    with pytest.raises(ValueError, match="trained on a 3 labels \\+ edges primitive .*got 3 labels$"):
        as_renderer(rec.model, p.replace(edges=None))
    small = ds.Primitive(p.labels[:16, :24].contiguous(), p.edges[:16, :24].contiguous(), 3)
    with pytest.raises(ValueError, match="the primitive is 16x24 but the model was trained at 32x48"):
        as_renderer(rec.model, small)
    with pytest.raises(ValueError, match="takes 4 input channels but the primitive encodes to 3"):
        as_renderer(rec.model.generator, p.replace(edges=None))
    with pytest.raises(FileNotFoundError, match="does not exist; check the path"):
        as_renderer(str(tmp_path / "nope.pt"), p)
    with pytest.raises(ValueError, match="expected a trained DeepSIMModel, a generator, a model path or a callable"):
        as_renderer(42, p)
    # a bare generator and a saved model render what the model renders
    rec.model.save(tmp_path / "model.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = rec.model.generate(p)
        assert torch.allclose(as_renderer(rec.model.generator, p)(p), expected)
        assert torch.allclose(as_renderer(tmp_path / "model.pt", p)(p), expected)
