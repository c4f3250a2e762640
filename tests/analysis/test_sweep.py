"""Sweeps: the grid, its table, and real runs on a 2-worker local Ray (a failing cell, a killed worker, re-runs)."""

import json
import os
import runpy
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from deepsim_lite import cli, sweep, video
from deepsim_lite.analysis.heldout import paired_difference
from deepsim_lite.analysis.stats import block_bootstrap_interval
from deepsim_lite.analysis.sweep import Cell, Grid, Outcome
from deepsim_lite.primitives.samples import data_dir

ROOT = Path(__file__).resolve().parents[2]

# --- the grid -----------------------------------------------------------------------------------------------------


def test_grid_cells_cover_every_combination_and_patchnn_once():
    grid = Grid(clips=["carphone", "bikes"], primitives=["seg", "edges"], methods=["tps", "patchnn"], seeds=[0, 1, 2],
                fields={"iterations": [250, 500], "omega.L": 5.0})
    cells = grid.cells()
    assert len(cells) == 2 * 2 * (3 * 2 + 1)
    assert len(set(cells)) == len(cells)
    trained = [c for c in cells if c.method == "tps"]
    assert {c.seed for c in trained} == {0, 1, 2} and {dict(c.fields)["iterations"] for c in trained} == {250, 500}
    assert [c for c in cells if c.method == "patchnn"][0] == Cell("carphone", "seg", "patchnn", None)
    cell = Cell("carphone", "seg", "tps", 2, (("iterations", 250), ("omega.L", 5.0), ("omega.grid_size", 3)))
    assert cell.overrides() == {"seed": 2, "iterations": 250, "omega": {"L": 5.0, "grid_size": 3}}
    assert cell.label() == "carphone seg tps seed 2 iterations=250 omega.L=5.0 omega.grid_size=3"
    assert Cell("/data/clips/street.mp4", "seg", "tps", 0).name == "street"


@pytest.mark.parametrize("kwargs, message", [
    (dict(methods=[]), "the grid's methods list is empty"),
    (dict(seeds=[0, 0]), "the grid's seeds list repeats a value"),
    (dict(methods=["tps", "warp"]), "unknown method 'warp'; choose one of tps, crop_flip, none, patchnn"),
    (dict(primitives=["depth"]), "unknown primitive 'depth'"),
    (dict(seeds=[-1]), "seeds must be integers >= 0, got -1"),
    (dict(preset="huge"), "unknown preset 'huge'"),
    (dict(frames=1), "frames must be an integer >= 2"),
    (dict(fields={"seed": [1, 2]}), "seed is an axis of the grid, not a field: use seeds"),
    (dict(fields={"omega.L": [-1.0]}), r"cell carphone seg tps seed 0 omega.L=-1.0: Omega.L must be > 0"),
    (dict(fields={"stepz": [3]}), "unknown TrainConfig field.s. stepz"),
    (dict(fields={"omega.M": [3]}), "unknown omega field.s. M"),
    (dict(fields={"iterations": [3, 3]}), "field iterations needs distinct values"),
    (dict(seeds=None), "the grid's seeds must be a list of integers, got None"),
    (dict(clips=[1]), r"the grid's clips must be names, got 1 \(quote it in a grid file\)"),
    (dict(preset=["lesson"]), "preset must be one name, got .'lesson'."),
    (dict(clips=["/a/00001.mp4", "/b/00001.mp4"]), "clips /a/00001.mp4 and /b/00001.mp4 have the same name '00001'"),
    (dict(methods=["crop_flip"], fields={"flip": True}), "cell carphone seg crop_flip seed 0 flip=True: flip applies"),
    (dict(methods=["tps", "patchnn"], fields={"max_side": [96, 128]}), "max_side changes the frames or their labels"),
    (dict(fields={"omega.L": [[5, 10]]}), "field omega.L: a value must be a number"),
    (dict(fields={"omega.L": [5, 5.0]}), "field omega.L needs distinct values"),
    (dict(fields={"omega": {"L": [5]}, "omega.L": [10]}), r"the grid names a field twice: \['omega.L'\]"),
    (dict(methods=["patchnn"], fields={"iterations": 3}), "fields change the training, and patchnn trains nothing"),
])
def test_grid_refuses_bad_input_in_one_line(kwargs, message):
    base = dict(clips=["carphone"], primitives=["seg"], methods=["tps"])
    with pytest.raises(ValueError, match=message) as err:
        Grid(**{**base, **kwargs})
    assert "\n" not in str(err.value)


def test_grid_reads_nested_fields_and_single_values():
    assert Grid(clips=["carphone"], fields=None).fields == ()  # an empty "fields:" in YAML
    nested = Grid(clips="carphone", seeds=0, fields={"omega": {"L": [5, 10.0], "grid_size": 3}, "lr": "1e-3"})
    assert nested.clips == ("carphone",) and nested.seeds == (0,)
    assert nested.fields == (("omega.L", (5, 10.0)), ("omega.grid_size", (3,)), ("lr", (1e-3,)))
    assert {c.overrides()["omega"]["L"] for c in nested.cells()} == {5, 10.0}


def test_grid_files_yaml_and_toml_and_the_command_line_agree(tmp_path):
    (tmp_path / "g.yaml").write_text("clips: [carphone]\nprimitives: [seg_edges]\nmethods: [crop_flip, tps]\n"
                                     "seeds: [0, 1, 2]\nfields:\n  iterations: [250, 500]\n  omega.L: [5.0]\n")
    (tmp_path / "g.toml").write_text('clips = ["carphone"]\nprimitives = ["seg_edges"]\n'
                                     'methods = ["crop_flip", "tps"]\n'
                                     'seeds = [0, 1, 2]\n[fields]\niterations = [250, 500]\nomega.L = [5.0]\n')
    from_yaml, from_toml = Grid(**sweep.read_grid(tmp_path / "g.yaml")), Grid(**sweep.read_grid(tmp_path / "g.toml"))
    assert from_yaml == from_toml and len(from_yaml.cells()) == 6 * 2
    # the command a report records parses back to the same grid
    parser = cli.build_parser()
    assert cli.grid_from_args(parser.parse_args(from_yaml.command().split()[1:])) == from_yaml
    # the options override the file's keys, --set adds to (or replaces) its fields
    merged = cli.grid_from_args(parser.parse_args(["sweep", str(tmp_path / "g.yaml"), "--seeds", "4", "--set",
                                                   "omega.L=5,6", "--set", "lr=1e-3"]))
    assert merged.seeds == (4,) and merged.clips == ("carphone",)
    assert merged.fields == (("iterations", (250, 500)), ("omega.L", (5, 6)), ("lr", (1e-3,)))
    with pytest.raises(ValueError, match="--set takes FIELD=VALUE"):
        cli.grid_from_args(parser.parse_args(["sweep", "--set", "omega.L"]))
    with pytest.raises(ValueError, match="--set lr is given twice; give its values once: --set lr=V1,V2"):
        cli.grid_from_args(parser.parse_args(["sweep", "--set", "lr=1e-3", "--set", "lr=2e-3"]))
    (tmp_path / "bad.yaml").write_text("clips: [carphone\n")
    with pytest.raises(ValueError, match="bad.yaml is not valid YAML"):
        sweep.read_grid(tmp_path / "bad.yaml")
    (tmp_path / "typo.toml").write_text('clip = ["carphone"]\n')
    with pytest.raises(ValueError, match="unknown key.s. clip; known: clips, fields, frames"):
        sweep.read_grid(tmp_path / "typo.toml")
    (tmp_path / "g.json").write_text("{}")
    with pytest.raises(ValueError, match="^grid file .*g.json must end in .yaml, .yml or .toml$"):
        sweep.read_grid(tmp_path / "g.json")


def test_parse_value_reads_numbers_booleans_and_none():
    assert [sweep.parse_value(t) for t in ("3", "1e-3", "5.0", "true", "False", "none", "reflection")] == [
        3, 1e-3, 5.0, True, False, None, "reflection"]
    assert isinstance(sweep.parse_value("3"), int) and isinstance(sweep.parse_value("3.0"), float)


# --- the table ----------------------------------------------------------------------------------------------------


def _result(psnr: list[float], lpips: float = 0.1) -> dict:
    rows = [{"frame": i + 1, "psnr": p, "ssim": 0.5 + p / 100, "lpips": lpips, "sifid": 1.0}
            for i, p in enumerate(psnr)]
    return {"summary": {m: {"mean": float(np.mean([r[m] for r in rows])), "std": 0.0} for m in sweep.METRICS},
            "per_frame": rows, "labels": {"lpips": "LPIPS[alex,random-init]", "sifid": "SIFID[inception,random-init]"},
            "perceptual_loss": "l1 (no vgg19 weights)", "segmentation": "flow", "ms_per_frame": 10.0}


def test_summary_is_mean_and_std_over_seeds_with_paired_comparisons():
    grid = Grid(clips=["carphone", "bikes"], primitives=["seg"], methods=["crop_flip", "tps", "patchnn"],
                seeds=[0, 1, 2])
    scores = {("carphone", "crop_flip"): [[20, 21], [21, 22], [19, 20]], ("carphone", "tps"): [[22, 23], [23, 25],
              [22, 22]], ("bikes", "crop_flip"): [[18, 18], [17, 19], [18, 20]], ("bikes", "tps"): [[19, 19],
              [18, 21], [20, 20]]}
    results = [(Cell(clip, "seg", m, seed), _result(scores[clip, m][seed]))
               for (clip, m) in scores for seed in (0, 1, 2)]
    results += [(Cell(clip, "seg", "patchnn", None), _result([24.0, 26.0], lpips=0.01))
                for clip in ("carphone", "bikes")]
    summary = sweep.summarise(results, grid)
    row = next(r for r in summary["rows"] if r["clip"] == "carphone" and r["method"] == "tps")
    per_seed = np.array(scores["carphone", "tps"]).mean(1)
    assert row["psnr"]["mean"] == pytest.approx(per_seed.mean()) and row["seeds"] == [0, 1, 2]
    assert row["psnr"]["std"] == pytest.approx(per_seed.std(ddof=1))
    patch = next(r for r in summary["rows"] if r["method"] == "patchnn")
    assert patch["runs"] == 1 and patch["seeds"] == [] and patch["psnr"]["std"] is None
    comps = {(c["a"], c["b"], c["where"] if c["where"] == "all" else c["where"]["clip"]): c
             for c in summary["comparisons"]}
    assert set(comps) == {(a, b, w) for a, b in (("tps", "crop_flip"), ("patchnn", "crop_flip"), ("patchnn", "tps"))
                          for w in ("carphone", "bikes", "all")}  # every pair of methods, later − earlier
    want = paired_difference(np.array(scores["carphone", "tps"]), np.array(scores["carphone", "crop_flip"]))
    assert comps["tps", "crop_flip", "carphone"]["psnr"] == want
    pooled = paired_difference(np.concatenate([scores["carphone", "tps"], scores["bikes", "tps"]], axis=1),
                               np.concatenate([scores["carphone", "crop_flip"], scores["bikes", "crop_flip"]], axis=1))
    assert comps["tps", "crop_flip", "all"]["psnr"] == pooled
    assert comps["patchnn", "crop_flip", "carphone"]["lpips"]["a_better_fraction"] == 1.0  # lower is better
    patch_vs_tps = paired_difference(np.array([[24.0, 26.0]] * 3), np.array(scores["carphone", "tps"]))
    assert comps["patchnn", "tps", "carphone"]["psnr"] == patch_vs_tps  # the one patchnn run stands for every seed
    table = sweep.markdown_tables(summary)
    mean_std = f"{per_seed.mean():.2f} ± {per_seed.std(ddof=1):.2f}"
    assert f"| carphone | seg (flow) | tps | 3 (0, 1, 2) | {mean_std} |" in table
    assert "| carphone | seg (flow) | patchnn | 1 (deterministic) | 25.00 |" in table
    interval = f"{want['mean']:+.2f} [{want['ci_low']:+.2f}, {want['ci_high']:+.2f}]"
    assert f"| tps − crop_flip | carphone, seg | {interval}" in table
    assert "random-init" in table and "Preset lesson; reconstruction loss: l1 (no vgg19 weights)" in table

    # a missing seed leaves its group out of the comparisons, never pairs unlike runs
    partial = [(c, r) for c, r in results if not (c.clip == "bikes" and c.method == "tps" and c.seed == 2)]
    left = sweep.summarise(partial, grid)["comparisons"]
    assert {(c["a"], c["b"], c["where"] if c["where"] == "all" else c["where"]["clip"]) for c in left} == {
        ("tps", "crop_flip", "carphone"), ("patchnn", "crop_flip", "carphone"), ("patchnn", "crop_flip", "bikes"),
        ("patchnn", "crop_flip", "all"), ("patchnn", "tps", "carphone")}


def test_shipped_table_is_the_committed_sweeps_and_regenerates_from_it(tmp_path):
    """data/results/video_sweep.md (the table lesson 06 shows, in the wheel too) is the committed sweep's report
    as sweep_table renders it; the script remakes it from benchmarks/results/video/, so the two cannot drift."""
    committed = ROOT / "benchmarks" / "results" / "video"
    shipped = (data_dir() / sweep.SHIPPED_TABLE).read_text()
    assert sweep.sweep_table() == shipped == sweep.sweep_table(committed)
    assert (committed / "sweep.md").read_text().strip() in shipped  # the sweep's own report, unchanged
    command = json.loads((committed / "sweep.json").read_text())["history"][-1]["command"]
    assert f"`{command}`" in shipped.splitlines()[0] and "| carphone | edges | tps | 3 (0, 1, 2) |" in shipped
    script = runpy.run_path(str(ROOT / "scripts" / "ship_video_table.py"), run_name="ship")
    script["main"](["--out", str(tmp_path / "again.md")])
    assert (tmp_path / "again.md").read_text() == shipped


def test_sweep_table_of_your_own_folder_and_one_line_without_one(tmp_path):
    grid = Grid(clips=["carphone"], primitives=["seg"], methods=["crop_flip", "tps"], seeds=[0, 1])
    results = [(Cell("carphone", "seg", m, seed), _result([20.0 + seed + (m == "tps"), 21.0]))
               for m in ("crop_flip", "tps") for seed in (0, 1)]
    outcome = Outcome(results=results, failed={"carphone seg tps seed 2": "MemoryError"})
    sweep.write_report(tmp_path / "mine", grid, outcome, command="deepsim-lite sweep --out mine", device="a laptop")
    table = sweep.sweep_table(tmp_path / "mine")
    first, _, rest = table.partition("\n\n")
    assert "`deepsim-lite sweep --out mine`" in first and "a laptop" in first
    assert rest == (tmp_path / "mine" / "sweep.md").read_text()  # with its failed cells
    assert "Failed cells" in rest and "| carphone | seg (flow) | tps | 2 (0, 1) |" in rest
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "table.md").write_text("| one seed |\n")  # deepsim-lite bench video's table
    assert sweep.sweep_table(tmp_path / "one") == "| one seed |\n"
    with pytest.raises(FileNotFoundError, match=r"^no sweep in .*none: neither sweep.json \(deepsim-lite sweep --out "):
        sweep.sweep_table(tmp_path / "none")


def test_fields_are_factors_and_patchnn_pairs_with_each_value():
    grid = Grid(clips=["carphone"], primitives=["edges"], methods=["tps", "patchnn"], seeds=[0, 1],
                fields={"iterations": [100, 200]})
    results = [(Cell("carphone", "edges", "tps", s, (("iterations", it),)), _result([20 + it / 100 + s, 21]))
               for s in (0, 1) for it in (100, 200)]
    results.append((Cell("carphone", "edges", "patchnn", None), _result([25, 25])))
    comps = sweep.summarise(results, grid)["comparisons"]
    by = {(c["factor"], c["a"], c["b"], str(c["where"])) for c in comps}
    assert ("iterations", 200, 100, "{'clip': 'carphone', 'primitive': 'edges', 'method': 'tps'}") in by
    assert sum(1 for f, a, *_ in by if (f, a) == ("method", "patchnn")) == 3  # 100, 200 and pooled
    it = next(c for c in comps if c["factor"] == "iterations")
    assert it["psnr"]["mean"] == pytest.approx(0.5)  # (2 - 1) / 2 frames


def test_two_deterministic_runs_compare_over_frames():
    """patchnn − patchnn has no seeds to vary: its interval is over frames; pooled with a trained method's
    groups, its one run stands for every seed."""
    grid = Grid(clips=["carphone"], primitives=["seg", "seg_edges"], methods=["tps", "patchnn"], seeds=[0, 1, 2])
    results = [(Cell("carphone", "seg", "patchnn", None), _result([20, 21, 22])),
               (Cell("carphone", "seg_edges", "patchnn", None), _result([21, 21, 24]))]
    results += [(Cell("carphone", kind, "tps", s), _result([18 + s + (kind == "seg_edges"), 19, 20]))
                for kind in ("seg", "seg_edges") for s in (0, 1, 2)]
    comps = [c for c in sweep.summarise(results, grid)["comparisons"] if c["factor"] == "primitive"]
    by = {c["where"] if c["where"] == "all" else c["where"]["method"]: c for c in comps}
    assert len(comps) == 3 and set(by) == {"tps", "patchnn", "all"}
    comp = by["patchnn"]
    assert (comp["factor"], comp["a"], comp["b"]) == ("primitive", "seg_edges", "seg")
    assert comp["psnr"] == paired_difference(np.array([21, 21, 24.0]), np.array([20, 21, 22.0]), ordered_items=True)
    assert comp["psnr"]["interval_over"] == "frames (block bootstrap)"
    assert comp["psnr"]["ci_low"] < comp["psnr"]["ci_high"]
    assert by["all"]["psnr"]["interval_over"] == "seeds (paired)" and by["all"]["psnr"]["items"] == 6


def test_pooled_deterministic_runs_compare_over_frames():
    grid = Grid(clips=["carphone", "bikes"], primitives=["seg", "edges"], methods=["patchnn"], seeds=[0, 1])
    results = [(Cell(clip, kind, "patchnn", None), _result([20 + i + (kind == "seg"), 21, 22 - i]))
               for i, clip in enumerate(("carphone", "bikes")) for kind in ("seg", "edges")]
    pooled = [c for c in sweep.summarise(results, grid)["comparisons"] if c["where"] == "all"][0]["psnr"]
    assert pooled["interval_over"] == "frames (block bootstrap)" and pooled["items"] == 6
    d = np.array([-1.0, 0, 0, -1, 0, 0])  # edges − seg, frame by frame, both clips (a clip's frames in order)
    assert (pooled["ci_low"], pooled["ci_high"]) == block_bootstrap_interval(d, n_boot=4000)


def test_cli_without_ray_says_how_to_install_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert cli.main(["sweep", "--clips", "carphone"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == 'deepsim-lite: error: sweeps run on Ray, which is not installed: pip install "deepsim-lite[sweep]"'


def test_cli_bad_grid_is_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    assert cli.main(["sweep", "--clips", "carphone", "--set", "omega.L=-1"]) == 2
    assert capsys.readouterr().err.strip().startswith("deepsim-lite: error: cell carphone seg crop_flip seed 0 "
                                                      "omega.L=-1: Omega.L must be > 0")
    assert cli.main(["sweep", "--clips", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.mp4 does not exist" in capsys.readouterr().err


# --- real runs on Ray ---------------------------------------------------------------------------------------------


def _kill_first_running_cell(out, spare: str, killed: list, timeout: float = 300) -> None:
    """SIGKILL the worker process of the first cell seen running (its ``.running`` marker), other than ``spare``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for marker in out.glob("*.running"):
            try:
                info = json.loads(marker.read_text())
            except (OSError, ValueError):
                continue
            if info["cell"] != spare:
                os.kill(info["pid"], signal.SIGKILL)
                killed.append(info["cell"])
                return
        time.sleep(0.02)


def test_ray_sweep_survives_a_killed_worker_and_a_failing_cell_and_reruns_only_that(tmp_path, monkeypatch, capsys):
    """Two real CLI runs on a 2-worker local Ray.

    First run: one cell cannot write its result (a folder sits at its path): it is retried, then reported,
    and the command exits 1; the worker process of another cell is killed in the middle of that cell: Ray
    retries it and its line says "attempt 2"; the other cells finish. Second run (the folder gone): the same
    command runs only the failed cell, leaves the finished files untouched, and the table compares TPS with
    crop+flip over both seeds. A third run finds nothing to do and starts no Ray at all.
    """
    pytest.importorskip("ray")
    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path / "cache"))  # Ray's workers inherit it
    (tmp_path / "grid.yaml").write_text(
        "clips: [carphone]\nframes: 3\nprimitives: [edges]\nmethods: [crop_flip, tps]\nseeds: [0, 1]\n"
        "fields: {iterations: 3}\n")
    out = tmp_path / "out"
    blocked = video.cell_path(out, "carphone", "edges", "tps", "lesson", "flow", {"seed": 1, "iterations": 3})
    blocked.mkdir(parents=True)
    command = ["sweep", str(tmp_path / "grid.yaml"), "--out", str(out), "--num-cpus", "2", "--max-retries", "1"]
    killed: list = []
    killer = threading.Thread(target=_kill_first_running_cell, daemon=True,
                              args=(out, "carphone edges tps seed 1 iterations=3", killed))
    killer.start()
    code = cli.main(command)
    killer.join(timeout=5)
    first = capsys.readouterr()
    assert code == 1, first.out + first.err
    lines = first.out.splitlines()
    failed = [line for line in lines if "FAILED" in line]
    assert len(failed) == 1 and "carphone edges tps seed 1 iterations=3: IsADirectoryError" in failed[0]
    assert "(after 1 retries)" in failed[0]
    assert killed and any(killed[0] + ": PSNR" in line and "attempt 2" in line for line in lines), first.out
    assert first.err.strip().splitlines()[-1].startswith("deepsim-lite: error: 1 cells failed")
    assert "sweep: 3 cells run, 0 already finished, 1 failed" in first.out
    done = sorted(p for p in out.glob("*.json") if p.is_file() and p.name != "sweep.json")
    assert len(done) == 3 and not [p for p in out.glob("*.running") if killed[0] in p.read_text()]
    stamps = {p: p.stat().st_mtime_ns for p in done}

    blocked.rmdir()
    code = cli.main(command)
    second = capsys.readouterr()
    assert code == 0, second.out + second.err
    assert "sweep: 3 of 4 cells already finished" in second.out
    (line,) = [x for x in second.out.splitlines() if x.startswith("[4/4] carphone edges tps seed 1 iterations=3: PSNR")]
    assert "attempt" not in line  # the first sweep's attempts are not counted again
    assert "sweep: 1 cells run, 3 already finished, 0 failed" in second.out
    assert {p: p.stat().st_mtime_ns for p in done} == stamps  # finished cells were not redone
    report = json.loads((out / "sweep.json").read_text())
    first_run, last = report["history"]  # one record per invocation of this grid
    assert list(first_run["failed"]) == ["carphone edges tps seed 1 iterations=3"] and len(first_run["ran"]) == 3
    assert last["failed"] == {} and last["cluster"]["CPU"] == 2.0 and last["skipped"] == 3 and len(last["ran"]) == 1
    rows = {r["method"]: r for r in report["rows"]}
    runs = [json.loads(p.read_text()) for p in out.glob("carphone-edges-tps-*.json")]
    assert rows["tps"]["seeds"] == [0, 1] and len(runs) == 2
    assert rows["tps"]["psnr"]["mean"] == pytest.approx(np.mean([r["summary"]["psnr"]["mean"] for r in runs]))
    (comp,) = report["comparisons"]
    assert (comp["a"], comp["b"], comp["psnr"]["interval_over"]) == ("tps", "crop_flip", "seeds (paired)")
    assert "| tps − crop_flip | carphone, edges, iterations=3 |" in (out / "sweep.md").read_text()

    again = sweep.run(Grid(**sweep.read_grid(tmp_path / "grid.yaml")), out, progress=False)
    assert again.ran == [] and len(again.skipped) == 4 and len(again.results) == 4 and again.cluster == {}
