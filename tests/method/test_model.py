import dataclasses
import pathlib
import warnings

import pytest
import torch
from conftest import TINY

import deepsim_lite as ds
from deepsim_lite import model as model_mod
from deepsim_lite import train


@pytest.fixture(scope="module")
def tiny_model(small_pair):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ds.features.PretrainedWeightsMissing)
        return train.fit(small_pair, dataclasses.replace(TINY, iterations=3), progress=False).model


def test_generate_checks_the_primitive(tiny_model, small_pair):
    with pytest.raises(ValueError, match="trained on a 8 labels \\+ edges primitive .*got 0 labels \\+ edges"):
        tiny_model.generate(small_pair.primitive.replace(labels=None, n_labels=0))
    big = ds.resize_pair(None, small_pair.primitive, (64, 96))[1]
    with pytest.warns(ds.SizeAdjustedWarning, match="to the trained size 32x48"):
        out = tiny_model.generate(big)
    assert out.shape == (3, 32, 48)
    with pytest.raises(ValueError, match="C_p = 9"):
        tiny_model.generate(torch.zeros(2, 3, 32, 48))


def test_generate_of_an_encoding_equals_generate_of_the_primitive(tiny_model, small_pair):
    x = ds.encode(small_pair.primitive)
    one = tiny_model.generate(small_pair.primitive)
    assert torch.equal(tiny_model.generate(x), one)
    batch = tiny_model.generate(torch.stack([x, x]))
    assert batch.shape == (2, 3, 32, 48) and torch.allclose(batch[1], one, atol=1e-5)  # batched conv rounding
    assert one.min() >= -1 and one.max() <= 1


def test_render_refuses_non_finite_input(tiny_model, small_pair):
    x = ds.encode(small_pair.primitive)[None].clone()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        model_mod.render(tiny_model.generator, x)


def test_save_load_round_trip(tiny_model, small_pair, tmp_path):
    tiny_model.save(tmp_path / "m.pt")
    back = ds.load_model(tmp_path / "m.pt")
    assert back.config == tiny_model.config and back.size == tiny_model.size
    assert torch.equal(back.generate(small_pair.primitive), tiny_model.generate(small_pair.primitive))
    # the file holds tensors and plain types only
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["format"] == model_mod.MODEL_FORMAT and state["config"]["primitive_kind"] == "seg_edges"


def test_build_generator_follows_the_config():
    g = model_mod.build_generator(ds.TrainConfig.preset("lesson"), 9)
    assert g.n_downsample == 2 and g(torch.zeros(1, 9, 16, 16)).shape == (1, 3, 16, 16)


def test_missing_and_truncated_files(tiny_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ds.load_model(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="holds no model.pt or checkpoints/last.pt"):
        ds.load_model(tmp_path)
    tiny_model.save(tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "m.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="m.pt is not a readable checkpoint .*truncated or corrupt"):
        ds.load_model(tmp_path / "m.pt")


class _Evil:
    """Unpickling this writes a file: what a crafted checkpoint from a shared cache could do."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def test_a_checkpoint_never_runs_code(tiny_model, tmp_path):
    marker = tmp_path / "pwned"
    state = tiny_model.state()
    state["info"] = {"payload": _Evil(str(marker))}
    torch.save(state, tmp_path / "evil.pt")  # a pickle that calls Path(marker).touch() when loaded unsafely
    torch.load(tmp_path / "evil.pt", weights_only=False)  # proof that the file really carries the payload
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ValueError, match="evil.pt holds Python objects besides tensors; .* refuses to run code") as e:
        ds.load_model(tmp_path / "evil.pt")
    assert "\n" not in str(e.value)
    assert not marker.exists()


@pytest.mark.parametrize("drop", ["config", "generator", "n_labels"])
def test_a_model_file_missing_an_entry_is_one_line(tiny_model, tmp_path, drop):
    state = tiny_model.state()
    del state[drop]
    torch.save(state, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=f"m.pt: the model state has no '{drop}' entry"):
        ds.load_model(tmp_path / "m.pt")


def test_a_model_file_that_does_not_fit_its_config(tiny_model, tmp_path):
    state = tiny_model.state()
    state["config"]["ngf"] = 8
    torch.save(state, tmp_path / "m.pt")
    with pytest.raises(ValueError, match="does not fit its config"):
        ds.load_model(tmp_path / "m.pt")


def test_not_a_deepsim_file(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not a deepsim-lite checkpoint"):
        ds.load_model(tmp_path / "other.pt")


def test_a_bit_flip_in_the_weights_is_caught_on_load(tiny_model, small_pair, tmp_path):
    import zipfile

    tiny_model.save(tmp_path / "m.pt")
    with zipfile.ZipFile(tmp_path / "m.pt") as z:
        entries = {i.filename: z.read(i.filename) for i in z.infolist()}
    biggest = max((n for n in entries if "/data/" in n), key=lambda n: len(entries[n]))
    flipped = bytearray(entries[biggest])
    flipped[len(flipped) // 2] ^= 0x40  # one bit of one weight; the zip itself stays valid (fresh CRCs)
    entries[biggest] = bytes(flipped)
    with zipfile.ZipFile(tmp_path / "flipped.pt", "w", zipfile.ZIP_STORED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    assert torch.load(tmp_path / "flipped.pt", weights_only=True)["format"] == model_mod.MODEL_FORMAT  # loads...
    with pytest.raises(ValueError, match="flipped.pt is corrupt: its tensors do not match the checksum"):
        ds.load_model(tmp_path / "flipped.pt")  # ...but is refused
    assert torch.equal(ds.load_model(tmp_path / "m.pt").generate(small_pair.primitive),
                       tiny_model.generate(small_pair.primitive))
