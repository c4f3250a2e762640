"""``deepsim-lite weights``: the ImageNet backbones the toolkit uses, whether they are cached, and fetching them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..weights import backbones


def add_parser(sub) -> None:
    p = sub.add_parser("weights", help="ImageNet weights the toolkit uses: list them (cached or not), or fetch them")
    p.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"backbones to fetch (default: all): {' '.join(backbones.BACKBONES)}")
    p.add_argument("--mirror", help="download from this URL prefix (a mirror with the same file names) "
                   "instead of torchvision's URL")
    p.add_argument("--quiet", action="store_true", help="no download progress bar")
    p.set_defaults(func=_cmd_weights)


def _cmd_weights(args: argparse.Namespace) -> int:
    """List the ImageNet backbones the toolkit uses and whether their files are cached; or fetch them."""
    unknown = [n for n in args.names if n not in backbones.BACKBONES]
    if unknown or (args.names and args.action == "list"):
        raise ValueError(f"unknown backbone {unknown[0]!r}; choose from {', '.join(backbones.BACKBONES)}" if unknown
                         else "names go with 'weights fetch'; 'weights' alone lists every backbone")
    if args.action == "fetch":
        names = args.names or list(backbones.BACKBONES)
        failed = []
        for name in names:
            member = backbones.weights_enum(name)
            url = args.mirror.rstrip("/") + "/" + Path(member.url).name if args.mirror else None
            try:
                path = backbones.fetch(member, url, progress=not args.quiet)
                print(f"{name:>9}: {path}")
            except backbones.WeightsUnavailable as err:
                failed.append(name)
                print(f"deepsim-lite: error: {name}: {err}", file=sys.stderr)
        if failed:
            return 2
    for row in backbones.weights_status():
        state = f"cached, {row['mb']} MB" if row["cached"] else "missing"
        print(f"{row['name']:>9}  {state:<17}  {row['use']:<52}  {row['file']}")
    if backbones.offline():
        print("DEEPSIM_OFFLINE is set: nothing is downloaded; missing weights fall back to labelled random init")
    return 0
