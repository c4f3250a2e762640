"""Downloads of weight files: one line per failure, never half a file, nothing at all when offline.

``DEEPSIM_OFFLINE=1`` (tests and CI set it) forbids every network access: torchvision's host and the
package index alike. :func:`download` streams a URL into a file through a temporary name, checks its
size and SHA-256 as it goes, and renames it into place only when both are right.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from .._io import atomic_file

__all__ = ["WeightsUnavailable", "offline", "download", "redact"]

_failed: dict[str, str] = {}  # URL or host -> why it failed in this process (tried once: no second timeout)
DEADLINE_S = 1800.0  # a download that has not finished in this long is given up (a server that trickles)


class WeightsUnavailable(OSError):
    """ImageNet weights are neither cached nor downloadable (offline, or the download failed)."""


def offline() -> bool:
    """True when ``DEEPSIM_OFFLINE`` is set (to anything but ``0``/empty): never touch the network."""
    return os.environ.get("DEEPSIM_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")


def redact(url: str) -> str:
    """``url`` with any password replaced by ``****`` (for messages: an index URL may carry credentials)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:****@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _open(url: str, timeout: float, cafile: str | None = None):
    """``urlopen(url)`` for http(s) URLs only; ``cafile``: the certificates to trust (pip's ``cert``); a
    ``user:password@`` in the URL is sent as Basic authorisation to that host only (on redirects within it
    too, never to another host), as pip does for an index URL with credentials."""
    import ssl

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs are fetched, not {parts.scheme or 'a relative'}: ones")
    context = ssl.create_default_context(cafile=cafile) if cafile and parts.scheme == "https" else None
    if parts.username is None:
        return urllib.request.urlopen(url, timeout=timeout, **({"context": context} if context else {}))
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    manager = urllib.request.HTTPPasswordMgrWithPriorAuth()
    manager.add_password(None, f"{parts.scheme}://{host}/", urllib.parse.unquote(parts.username),
                         urllib.parse.unquote(parts.password or ""), is_authenticated=True)
    handlers = [urllib.request.HTTPBasicAuthHandler(manager)] + ([urllib.request.HTTPSHandler(context=context)]
                                                                 if context else [])
    return urllib.request.build_opener(*handlers).open(urllib.parse.urlunsplit(parts._replace(netloc=host)),
                                                       timeout=timeout)


def download(url: str, dst: str | os.PathLike | BinaryIO, timeout: float, progress: bool, name: str, *,
             sha256: str | None = None, sha256_prefix: str | None = None, size: int | None = None,
             limit: int | None = None, final_url: list[str] | None = None, cafile: str | None = None) -> str:
    """Download ``url`` into the file ``dst`` (atomically) or into an open binary file; the SHA-256 hex.

    Args:
        timeout: seconds to wait for the server to answer (and between chunks).
        name: what the one-line errors call the file.
        sha256 / sha256_prefix / size: what the download must match; a mismatch stores nothing.
        limit: refuse more than this many bytes (an index page, not an archive; default: ``size``).
        final_url: if given, the URL that answered (after redirects) is appended to it.
        cafile: certificates to trust for https (e.g. pip's ``cert`` setting behind a company proxy).

    Raises :class:`WeightsUnavailable` with one line: offline, refused, timed out, truncated, wrong hash,
    a folder that is not writable or a full disk. A URL that failed is not tried again in this process.
    """
    if offline():
        raise WeightsUnavailable(f"DEEPSIM_OFFLINE is set, so {name} is not downloaded")
    host = urllib.parse.urlsplit(url).hostname
    if url in _failed or host in _failed:  # that file, or any file of a host that did not answer
        raise WeightsUnavailable(_failed.get(url) or _failed[host])
    limit = size if limit is None else limit
    final_url = [] if final_url is None else final_url
    try:
        if not isinstance(dst, str | os.PathLike):
            return _stream(url, dst, timeout, progress, name, sha256, sha256_prefix, size, limit, final_url, cafile)
        path = Path(dst)
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.*.part"):  # left by a killed download (not a running one)
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)
        with atomic_file(path, suffix=".part") as f:  # the file appears only once it is complete and checked
            return _stream(url, f, timeout, progress, name, sha256, sha256_prefix, size, limit, final_url, cafile)
    except _HostDown as err:
        _failed[url] = _failed[host] = str(err)
        raise WeightsUnavailable(str(err)) from None
    except WeightsUnavailable as err:
        _failed[url] = str(err)
        raise
    except OSError as err:
        where = Path(dst).parent if isinstance(dst, str | os.PathLike) else "the output file"
        raise WeightsUnavailable(f"could not write {name} to {where} ({err.strerror or err}); free some space or "
                                 "set TORCH_HOME to a writable folder") from None


class _HostDown(WeightsUnavailable):
    """The server did not answer at all (refused, unknown, timed out): its other files are not tried either."""


def _stream(url: str, f: BinaryIO, timeout: float, progress: bool, name: str, sha256: str | None,
            sha256_prefix: str | None, size: int | None, limit: int | None, final_url: list[str],
            cafile: str | None = None) -> str:
    from tqdm.auto import tqdm

    h, got, shown, started = hashlib.sha256(), 0, redact(url), time.monotonic()
    try:
        response = _open(url, timeout, cafile)
    except urllib.error.HTTPError as err:  # the server answered: another file of it may still be there
        raise WeightsUnavailable(f"could not download {name} from {shown} (HTTP {err.code}: {err.reason})") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise _HostDown(f"could not download {name} from {shown} ({reason})") from None
    with response as r:
        final_url.append(r.geturl())
        if urllib.parse.urlsplit(r.geturl()).scheme not in ("http", "https"):
            raise WeightsUnavailable(f"{shown} redirected to a {urllib.parse.urlsplit(r.geturl()).scheme}: URL; "
                                     "only http and https are fetched")
        total = int(r.headers.get("Content-Length") or 0)
        if size is not None and total and total != size:
            raise WeightsUnavailable(f"{shown} offers {total} bytes for {name}, not the pinned {size}; not the "
                                     "pinned file, not downloaded")
        with tqdm(total=total or None, unit="B", unit_scale=True, desc=name, disable=not progress) as bar:
            while True:
                try:
                    chunk = r.read(1 << 20)
                except (http.client.HTTPException, OSError, ValueError) as err:  # the connection dropped
                    raise WeightsUnavailable(f"the download of {name} from {shown} broke off after {got} bytes "
                                             f"({err.__class__.__name__})") from None
                if not chunk:
                    break
                f.write(chunk)  # an OSError here (a full disk) is the caller's one line
                h.update(chunk)
                got += len(chunk)
                bar.update(len(chunk))
                if time.monotonic() - started > DEADLINE_S:
                    raise WeightsUnavailable(f"the download of {name} from {shown} took over {DEADLINE_S:.0f} s "
                                             f"({got} bytes); given up")
                if limit is not None and got > limit:
                    raise WeightsUnavailable(f"{shown} sent more than the {limit} bytes expected for {name}; not "
                                             "what was asked for, not stored")
    if (total and got != total) or (size is not None and got != size):
        raise WeightsUnavailable(f"the download of {name} from {shown} stopped after {got} of {size or total} bytes")
    digest = h.hexdigest()
    if (sha256 and digest != sha256) or (sha256_prefix and not digest.startswith(sha256_prefix)):
        raise WeightsUnavailable(f"{shown} sent {got} bytes whose SHA-256 does not match the pinned one for {name}; "
                                 "a wrong or tampered file, not stored")
    return digest
