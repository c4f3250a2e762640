"""The shipped samples (primitives/samples.py): files, primitives, regions."""

from pathlib import Path

import pytest
import torch

import deepsim_lite as ds
from deepsim_lite import edits
from deepsim_lite.primitives.samples import data_dir

ROOT = Path(__file__).resolve().parents[2]


class TestSamples:
    def test_every_sample_ships_with_primitives_and_readme_entry(self):
        readme = (ROOT / "data" / "README.md").read_text()
        for name, info in ds.SAMPLES.items():
            assert ds.sample_path(name).is_file()
            for kind in ds.KINDS:
                assert (data_dir() / "primitives" / f"{name}_{kind}.png").is_file(), (name, kind)
            assert info.file in readme and info.licence in readme

    def test_at_least_four_real_photos_and_small_folder(self):
        assert len(ds.SAMPLES) >= 4
        total = sum(f.stat().st_size for f in (ROOT / "data").rglob("*") if f.is_file() and f.parent.name != "models")
        assert total < 5 * 2**20  # the shipped lesson models have their own budget (tests/method/test_shipped.py)

    def test_committed_primitives_match_the_images(self):
        for name in ds.SAMPLES:
            img = ds.load_image(ds.sample_path(name))
            for kind in ds.KINDS:
                p = ds.load_primitive(data_dir() / "primitives" / f"{name}_{kind}.png", kind)
                assert p.kind == kind and p.size == tuple(img.shape[1:])

    def test_committed_primitives_are_reproducible(self):
        # `make primitives` must regenerate exactly what is committed.
        img = ds.load_image(ds.sample_path("chelsea"))
        fresh = ds.make_primitive(img, "seg_edges")
        committed = ds.load_primitive(data_dir() / "primitives" / "chelsea_seg.png", "seg")
        assert torch.equal(fresh.labels, committed.labels)
        edges = ds.load_primitive(data_dir() / "primitives" / "chelsea_edges.png", "edges")
        assert torch.equal(fresh.edges, edges.edges)

    def test_load_sample_sizes_are_network_multiples(self):
        pair = ds.load_sample("chelsea", "edges", max_side=128)
        assert tuple(pair.image.shape) == (3, 80, 128) and pair.primitive.kind == "edges"

    def test_unknown_sample(self):
        with pytest.raises(ValueError, match="unknown sample 'dog'; choose one of chelsea"):
            ds.sample_path("dog")


def test_sample_regions_scale_with_the_working_size():
    assert ds.sample_region("chelsea", "nose", (84, 128)) == (56, 60, 74, 84)
    assert ds.sample_region("chelsea", "nose", (168, 256)) == (112, 120, 148, 168)
    with pytest.raises(ValueError, match="sample 'chelsea' has no region 'tail'; its regions: nose, right_eye"):
        ds.sample_region("chelsea", "tail", (84, 128))
    with pytest.raises(ValueError, match="has no region 'nose'; its regions: none"):
        ds.sample_region("coffee", "nose", (84, 128))


def test_background_label_is_the_label_of_the_samples_background(lesson_samples):
    """``fill: background`` must paint the room, not fur: per shipped sample with a background region, the label
    chosen lies mostly in that region (it is the room's, not a label of the cat that reaches into it)."""
    with_region = [name for name, info in ds.SAMPLES.items() if "background" in info.regions]
    assert with_region  # chelsea
    for name in with_region:
        for pair in (lesson_samples[name], ds.load_sample(name, "seg", max_side=128, multiple=4)):
            labels = pair.primitive.labels
            k = ds.background_label(pair)
            room = edits.box_mask(ds.sample_region(name, "background", pair.size), pair.size)
            assert int((labels[room] == k).sum()) > 0.5 * int((labels == k).sum()), (name, pair.size, k)
            assert ds.background_label(pair.primitive, name) == k


def test_background_label_without_a_background_region_is_the_frames_label(lesson_samples):
    coffee = lesson_samples["coffee"]  # a shipped sample without a named background
    assert ds.background_label(coffee) == edits.border_label(coffee.primitive)
    other = ds.Pair(coffee.image, coffee.primitive, "my_photo")  # not a sample: its name means nothing here
    assert ds.background_label(other) == edits.border_label(coffee.primitive)
    with pytest.raises(ValueError, match="unknown sample 'dog'"):
        ds.background_label(coffee.primitive, "dog")
    with pytest.raises(ValueError, match="has no labels"):
        ds.background_label(ds.load_sample("chelsea", "edges", max_side=64))
