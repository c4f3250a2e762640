import ast
import builtins
import json
import re
from pathlib import Path

import pytest
import torch

import deepsim_lite as ds
from deepsim_lite.method.config import PRESETS
from deepsim_lite.teaching.widgets.tools import key_command


def test_lesson_config_reads_the_mode(monkeypatch):
    monkeypatch.delenv("DEEPSIM_MODE", raising=False)
    lesson = ds.lesson_config()
    assert (lesson.mode, lesson.preset, lesson.config, lesson.work_side) == ("lesson", "lesson", PRESETS["lesson"], 192)
    assert lesson.model_preset == "lesson_long"  # the lessons load the long-trained models that ship with the package
    assert "the lessons' models: lesson_long" in str(lesson)
    monkeypatch.setenv("DEEPSIM_MODE", "laptop")
    laptop = ds.lesson_config()
    assert (laptop.preset, laptop.model_preset, laptop.work_side) == ("laptop", "laptop", 256)
    monkeypatch.setenv("DEEPSIM_MODE", "full")
    full = ds.lesson_config(primitive_kind="edges")
    assert (full.preset, full.config.primitive_kind, full.config.ngf, full.work_side) == ("paper", "edges", 64, 512)
    monkeypatch.setenv("DEEPSIM_MODE", "fast")
    with pytest.raises(ValueError, match="DEEPSIM_MODE must be one of lesson, laptop, full, got 'fast'"):
        ds.lesson_config()


def test_lesson_models_cover_every_lesson_and_build_their_pairs(monkeypatch):
    monkeypatch.delenv("DEEPSIM_MODE", raising=False)
    models = ds.lessons.lesson_models()
    assert {n for m in models for n in m.lessons.split()} == {"02", "03", "04", "05", "06", "07"}  # 01 trains none
    cat = models[0].pair()
    assert cat.size == (128, 192) and cat.primitive.kind == "seg_edges"  # what lessons 02-04 load
    assert [m.live for m in models] == [True] + [False] * 5 and models[0].preset(ds.lesson_config()) == "lesson"
    assert models[4].pair().size == (144, 176) and models[4].primitive_kind == "edges"  # carphone at its own size
    assert len({m.name for m in models}) == len(models)  # one file name each
    from deepsim_lite.method.shipped import pair_digest

    assert pair_digest(models[4].pair()) == pair_digest(models[5].pair())  # 05's frame file, 06's clip: one frame
    laptop = ds.lesson_config("laptop")  # one preset for all: lesson 02's live model is the one the others load
    assert [m.name for m, _ in ds.lessons.distinct(ds.lessons.lesson_models(laptop), laptop)] == [
        "cat-seg_edges-tps-live", "cat-seg_edges-crop_flip", "cat-edges-tps", "carphone-edges-tps",
        "carphone-edges-crop_flip"]


def test_prepare_trains_what_is_missing_then_only_loads(small_pair, tmp_path, monkeypatch, capsys):
    from dataclasses import replace

    monkeypatch.setenv("DEEPSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPSIM_MODELS", str(tmp_path / "shipped"))  # nothing shipped yet
    monkeypatch.setitem(PRESETS, "lesson", replace(PRESETS["lesson"], iterations=2))
    monkeypatch.setitem(PRESETS, "lesson_long", replace(PRESETS["lesson_long"], iterations=3))
    tiny = [ds.lessons.LessonModel("live", "02", "tiny live", lambda: small_pair, "seg_edges", "tps", live=True),
            ds.lessons.LessonModel("tps", "02 05", "tiny tps", lambda: small_pair, "seg_edges", "tps"),
            ds.lessons.LessonModel("cf", "02", "tiny crop+flip", lambda: small_pair, "seg_edges", "crop_flip")]
    monkeypatch.setattr(ds.lessons, "lesson_models", lambda lesson=None: tiny)
    first = ds.lessons.prepare("lesson", progress=False)
    assert [r["action"] for r in first] == ["trained"] * 3 and len(list((tmp_path / "cache").glob("*.pt"))) == 3
    assert "0 ready, 3 to train" in capsys.readouterr().out
    assert {f.name.split("-")[2] for f in (tmp_path / "cache").glob("*.pt")} == {"lesson", "lesson_long"}
    again = ds.lessons.prepare("lesson", progress=False)
    assert [r["action"] for r in again] == ["loaded"] * 3 and "3 ready, 0 to train" in capsys.readouterr().out

    # rebuilt as shipped models: then found there, bit for bit what the cache held (same seed, same weights)
    rebuilt = ds.lessons.prepare("lesson", progress=False, retrain=True)
    assert [r["action"] for r in rebuilt] == ["rebuilt"] * 3
    assert sorted(p.name for p in (tmp_path / "shipped").glob("*.pt")) == ["cf.pt", "tps.pt"]  # never the live one
    assert [m.status(ds.lesson_config("lesson")) for m in tiny] == ["cached", "shipped", "shipped"]
    cached = ds.cached_model(small_pair, "seg_edges", "tps", "lesson_long", retrain=True, progress=False)
    shipped = ds.load_model(tmp_path / "shipped" / "tps.pt")
    assert all(torch.equal(a, b) for a, b in zip(cached.generator.state_dict().values(),
                                                 shipped.generator.state_dict().values(), strict=True))
    assert [r["action"] for r in ds.lessons.prepare("lesson", progress=False)] == ["loaded", "shipped", "shipped"]

    # a shipped model whose recipe is not what the lesson asks for: stale, said so, trained into the cache
    monkeypatch.setitem(PRESETS, "lesson_long", replace(PRESETS["lesson_long"], iterations=4))
    assert tiny[1].status(ds.lesson_config("lesson")) == "stale"
    capsys.readouterr()
    assert [r["action"] for r in ds.lessons.prepare("lesson", progress=False)] == ["loaded", "trained", "trained"]
    assert "the shipped model tps was trained with another recipe (iterations: 3 shipped, 4 asked for)" in (
        capsys.readouterr().out)
    assert tiny[1].status(ds.lesson_config("lesson")) == "stale, cached"


def test_hosted_setup_turns_on_colabs_widget_manager_and_the_gpu_preset_only_where_they_exist(monkeypatch, capsys):
    import sys
    import types

    import torch

    monkeypatch.setenv("DEEPSIM_MODE", "lesson")  # recorded first, so what hosted_setup sets is undone afterwards
    monkeypatch.delenv("DEEPSIM_MODE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ds.lessons.hosted_setup() == [] and capsys.readouterr().out == ""  # a laptop: nothing happens
    assert ds.lesson_config().mode == "lesson"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ds.lessons.hosted_setup() == [] and ds.lesson_config().mode == "lesson"  # a GPU workstation keeps its mode

    calls = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("on"))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Tesla T4")
    done = ds.lessons.hosted_setup()
    assert calls == ["on"] and len(done) == 2 and "Tesla T4" in capsys.readouterr().out
    assert ds.lesson_config().mode == "full"  # the GPU preset

    monkeypatch.setenv("DEEPSIM_MODE", "lesson")  # a choice made before the cell is kept
    assert len(ds.lessons.hosted_setup()) == 1 and ds.lesson_config().mode == "lesson"


# ---- the lessons as text: names and numbers a reader can check -----------------------------------

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp,
           ast.GeneratorExp)
# names the prose uses as stand-ins in an API's signature, not as variables ("check.ex("01.N", answer)")
PLACEHOLDERS = {"answer", "run_dir", "function", "args"}


def _cells(book: Path) -> list[dict]:
    return json.loads(book.read_text())["cells"]


def _bound(tree: ast.AST, module_level: bool) -> set[str]:
    """Names ``tree`` binds: anywhere in it, or (``module_level``) only those a later cell can see."""
    names, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        if module_level and node is not tree and isinstance(node, _SCOPES):
            continue  # a function's parameters and locals, a comprehension's variables: not the notebook's
        stack.extend(ast.iter_child_nodes(node))
    return names


def _used(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _snippets(markdown: str) -> list[ast.Module]:
    """The inline code of a markdown cell that parses as Python (commands and file names do not), in order."""
    trees = []
    for code in re.findall(r"`([^`\n]+)`", markdown):
        try:
            trees.append(ast.parse(code))
        except SyntaxError:
            continue
    return trees


def _undefined_names(cells: list[dict]) -> list[str]:
    """Every name a code cell or a markdown cell's code uses that nothing defines: for a code cell, an earlier cell, an
    import, a builtin or the cell itself (solutions as written); for code in the text, which a reader runs after the
    lesson, any code cell of the lesson, an earlier snippet of the same cell or the snippet itself."""
    known, problems = set(dir(builtins)), []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            tree = ast.parse("".join(cell["source"]))
            problems += [f"code cell {i}: {name}" for name in sorted(_used(tree) - _bound(tree, False) - known)]
            known |= _bound(tree, True)
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            seen = set()
            for tree in _snippets("".join(cell["source"])):
                seen |= _bound(tree, False)
                if any(isinstance(n, ast.Call) for n in ast.walk(tree)):  # code to run, not a name in passing
                    missing = _used(tree) - seen - known - PLACEHOLDERS
                    problems += [f"markdown cell {i}: {name} in `{ast.unparse(tree)}`" for name in sorted(missing)]
    return problems


@pytest.mark.parametrize("book", LESSONS, ids=lambda p: p.stem[:2])
def test_every_name_a_lesson_uses_is_defined(book):
    assert _undefined_names(_cells(book)) == []


def test_the_name_check_finds_what_a_student_would_hit():
    def md(text):
        return {"cell_type": "markdown", "source": [text]}

    def code(text):
        return {"cell_type": "code", "source": [text]}

    cells = [code("import torch\nlesson = 1\ndef f(x):\n    y = x + 1\n    return [z for z in (y,)]\n"),
             code("print(lesson, f(2), torch)\nw = 3\nprint(w)"), code("print(y, z, later)"), code("later = 1"),
             md("Try `ds.cached_model(PRESET)` or `f(lesson)`; `shifts = [1]`, then `f(shifts)`; `f(answer)`")]
    assert _undefined_names(cells) == ["code cell 2: later", "code cell 2: y", "code cell 2: z",
                                       "markdown cell 4: PRESET in `ds.cached_model(PRESET)`",
                                       "markdown cell 4: ds in `ds.cached_model(PRESET)`"]


# A claim that something moves N pixels, or has a size N×M, in a lesson's text (before its exercises).
_MOVE = re.compile(r"\b(?:lift|lifts|lifted|move|moves|moved|shift|shifts|shifted|drag|drags|dragged|nudge|nudges)\b"
                   r"[^.]*?\b(\d+) ?(?:pixels?|px)\b", re.IGNORECASE)
_SIZE = re.compile(r"\b(\d+) ?[×x] ?(\d+)\b")


def _editor_latency_size() -> int:
    text = (ROOT / "benchmarks" / "editor_latency.py").read_text()
    return int(re.search(r'add_argument\("--size", type=int, default=(\d+)', text).group(1))


def _first_conv(config) -> tuple[int, int]:
    from deepsim_lite.method.model import build_generator

    conv = next(m for m in build_generator(config, 5).modules() if isinstance(m, torch.nn.Conv2d))
    return tuple(conv.kernel_size)


# claims whose number the lesson's code does not hold: where each one's number comes from
SOURCES = {
    ("02", "7×7"): lambda: _first_conv(ds.lesson_config().config),  # the generator's first (and last) conv
    ("02", "3×3"): lambda: (ds.heldout.HELD_OUT_OMEGA.grid_size,) * 2,  # ds.heldout's TPS family
    ("03", "10 pixels"): lambda: abs(key_command("ArrowUp", shift=True)[1][0]),  # the editor's Shift+arrow
    ("03", "256×256"): lambda: (_editor_latency_size(),) * 2,  # benchmarks/editor_latency.py's default
    ("05", "16×16"): lambda: (ds.knn.PatchFeatures.STRIDE,) * 2,  # layer3 cells and raw tiles
}


def _checked_output(cells: list[dict]) -> str:
    """The text of the cells nbval compares: what the lesson's own code prints, checked on every test run."""
    return "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code"
                   and "# NBVAL_CHECK_OUTPUT" in "".join(c["source"]) for o in c.get("outputs", []))


def _literals(cells: list[dict]) -> set[float]:
    trees = [ast.parse("".join(c["source"])) for c in cells if c["cell_type"] == "code"]
    return {n.value for t in trees for n in ast.walk(t) if isinstance(n, ast.Constant)
            and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)}


def _body(cells: list[dict]) -> str:
    """The lesson's text up to its exercises (those ask for numbers, they do not claim them), no instructor notes."""
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
                     and "instructor" not in c.get("metadata", {}).get("tags", []))
    return text.split("## Exercises")[0]


def _unsourced_claims(lesson: str, cells: list[dict]) -> list[str]:
    """Claims of the text that neither the checked output nor the code (sizes) nor :data:`SOURCES` back."""
    out, literals, text, problems = _checked_output(cells), _literals(cells), _body(cells), []
    for m in _MOVE.finditer(text):
        n, claim = int(m.group(1)), f"{m.group(1)} pixels"
        if (lesson, claim) in SOURCES:
            if SOURCES[lesson, claim]() != n:
                problems.append(f"{claim!r}: its source says {SOURCES[lesson, claim]()}")
        elif not re.search(rf"\b{n} ?(?:px|pixels?)\b", out):
            problems.append(f"{m.group(0)!r}: no checked output of the lesson prints {n} px")
    for m in _SIZE.finditer(text):
        size, claim = (int(m.group(1)), int(m.group(2))), f"{m.group(1)}×{m.group(2)}"
        if (lesson, claim) in SOURCES:
            if tuple(SOURCES[lesson, claim]()) != size:
                problems.append(f"{claim!r}: its source says {SOURCES[lesson, claim]()}")
        elif not (set(size) <= literals or re.search(rf"\b{size[0]}(?:, ?|x|×){size[1]}\b", out)):
            problems.append(f"{claim!r}: neither the code's numbers nor its checked output hold it")
    return problems


@pytest.mark.parametrize("book", LESSONS, ids=lambda p: p.stem[:2])
def test_the_numbers_of_a_lessons_text_come_from_its_code(book):
    assert _unsourced_claims(book.stem[:2], _cells(book)) == []


def test_every_source_of_a_number_is_claimed_by_its_lesson():
    texts = {book.stem[:2]: _body(_cells(book)) for book in LESSONS}
    for lesson, claim in SOURCES:
        pattern = claim.replace("×", " ?[×x] ?").replace(" pixels", " ?(?:pixels?|px)")
        assert re.search(rf"\b{pattern}\b", texts[lesson]), (lesson, claim)


def test_the_number_check_catches_a_move_the_code_does_not_make():
    def cells(text, printed):
        return [{"cell_type": "markdown", "source": [text], "metadata": {}},
                {"cell_type": "code", "source": ["# NBVAL_CHECK_OUTPUT\nprint(lift, size)"],
                 "outputs": [{"output_type": "stream", "text": [printed]}]}]

    assert _unsourced_claims("99", cells("Lift the nose by 9 pixels (128×192).", "lifted 9 px (128, 192)\n")) == []
    assert len(_unsourced_claims("99", cells("Lift the nose by 6 pixels (84×128).", "lifted 9 px (128, 192)\n"))) == 2
    assert _unsourced_claims("99", cells("## Exercises\nLift it by 20 pixels.", "lifted 9 px\n")) == []


def test_names_that_left_the_lessons_module_read_through_with_a_warning():
    from deepsim_lite.teaching import exercises, student

    with pytest.warns(DeprecationWarning, match=r"lessons\.check moved to deepsim_lite\.teaching\.exercises\.check"):
        assert ds.lessons.check is exercises.check
    with pytest.warns(DeprecationWarning, match=r"lessons\.build_student moved"):
        assert ds.lessons.build_student is student.build_student
    assert ds.sweep.AXES == ("clips", "primitives", "methods", "seeds")  # the sweep's parts' names, as in 0.6
