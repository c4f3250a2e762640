"""Layer 4, teaching: the lessons' mode and models, the exercises' self-checks, the student build and the
primitive editor widget. Imports anything below it, never the CLI.
"""

from .exercises import check

__all__ = ["check"]
