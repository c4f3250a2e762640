"""Interactive editing in Jupyter (paper Fig. 1, App. B): edit the primitive, regenerate the photo.

``EditorState`` (the state machine) and ``as_renderer`` need no front end and are always importable;
``PrimitiveEditor`` (the anywidget/ipywidgets front end) needs the ``notebooks`` extra.
"""

from .debounce import Debouncer
from .renderer import as_renderer
from .state import EditorState
from .tools import TOOLS, ToolUnavailable

__all__ = ["TOOLS", "Debouncer", "EditorState", "ToolUnavailable", "PrimitiveEditor", "as_renderer"]


def __getattr__(name: str):
    if name == "PrimitiveEditor":
        try:
            from . import editor
        except ImportError as err:
            raise ImportError(f"{name} needs ipywidgets and anywidget ({err.name} is missing); "
                              "install them with: pip install 'deepsim-lite[notebooks]'") from None
        return getattr(editor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
