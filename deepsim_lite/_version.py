"""The installed package's version (from its metadata), in one place for ``__version__`` and cache keys."""

from importlib import metadata

try:
    __version__ = metadata.version("deepsim-lite")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+source"
