"""Shared fixtures: small real photos from data/ (CPU, float32, [-1, 1]); an HTTP server on 127.0.0.1."""

import functools
import http.server
import os
import threading
import types

import pytest
import torch

# No test reaches the network, however it is started (make test exports this too; the download tests
# unset it and talk to a server of their own on 127.0.0.1).
os.environ.setdefault("DEEPSIM_OFFLINE", "1")

import deepsim_lite as ds


@pytest.fixture(scope="session")
def cat_small():
    """Chelsea at 64x96 with its super-primitive (6 labels at most)."""
    return ds.load_sample("chelsea", "seg_edges", max_side=96, n_segments=6)


@pytest.fixture(scope="session")
def samples_128():
    return {name: ds.load_sample(name, "seg_edges", max_side=128) for name in ds.SAMPLES}


@pytest.fixture(scope="session")
def lesson_samples():
    """Every shipped sample at the lessons' size (the lesson preset: longer side 192, sides multiples of 4), as the
    lessons load it: labels are k-means clusters of THIS image at THIS size, so their numbers are these pairs' own."""
    config = ds.TrainConfig.preset("lesson")
    return {name: ds.load_sample(name, "seg_edges", max_side=config.max_side, multiple=config.multiple)
            for name in ds.SAMPLES}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def small_pair():
    """Chelsea at 32x48 with its super-primitive (8 labels at most): the trainer tests' pair."""
    return ds.load_sample("chelsea", "seg_edges", max_side=48, multiple=4)


# A lesson-like network at 32x48: trains at ~50 steps/s on the 2-core CPU. Pixel L1 as ℓ_rec, whatever the lesson
# preset chooses: the trainer's tests then do not depend on which VGG weights a machine has.
TINY = ds.TrainConfig.preset("lesson", iterations=150, log_every=10, checkpoint_every=1000, reconstruction="l1",
                             vgg_layers=5, vgg_downsample=1)


def run_cli(*args):
    """``deepsim-lite ARGS`` run as cli.main in this process (no interpreter start-up): its exit code, stdout
    and stderr, as a subprocess would give them."""
    import contextlib
    import io
    import types

    from deepsim_lite import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exit_:  # argparse's own exit
            code = exit_.code
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture()
def server(tmp_path):
    """For the download tests (on 127.0.0.1 only, never another address): serves tmp_path/www and records the
    paths asked for; /cut/PATH announces the file's size but
    sends half of it, then closes the connection; /big/PATH announces 1000 bytes more than the file."""
    www = tmp_path / "www"
    www.mkdir()
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            if self.path.startswith(("/cut/", "/big/")):
                data = (www / self.path[5:]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data) + (1000 if self.path.startswith("/big/") else 0)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield types.SimpleNamespace(www=www, base=f"http://127.0.0.1:{httpd.server_address[1]}", hits=hits)
    httpd.shutdown()
    httpd.server_close()
