"""Sphinx configuration of the course site (`make site`; scripts/build_site.py copies this next to the lessons).

Sphinx + myst-nb + the book theme (what Jupyter Book 1 is built on), chosen over Jupyter Book 2 (mystmd)
because it is pure Python: it installs from PyPI into the project's venv and needs no Node.js toolchain.
myst-nb executes every lesson at build time, in lesson mode: the lessons load the models that ship with the package,
and lesson 02's live model comes from the model cache once trained (`deepsim-lite lessons prepare`). A lesson that
raises fails the build.
"""

project = "deepsim-lite"
author = "deepsim-lite contributors"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.napoleon"]
html_theme = "sphinx_book_theme"
html_title = "deepsim-lite: DeepSIM, one image at a time"
html_theme_options = {"show_navbar_depth": 1, "use_download_button": True}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path = ["_templates"]  # autosummary/module.rst: each module page documents its members
autosummary_generate = True  # the API pages (docs/api.md) are written at build time, not committed
autodoc_member_order = "bysource"  # a module reads top to bottom, as its source does
autodoc_typehints = "description"
napoleon_google_docstring, napoleon_numpy_docstring = True, False
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # links to a section of a docs page (page.md#section) resolve, as on GitHub
html_static_path = ["_static"]
html_css_files = ["lessons.css"]  # code lines wrap instead of being clipped
nb_execution_mode = "force"
nb_execution_timeout = 3600  # per cell: a cold cache trains a lesson model (about 70 s on 2 CPU cores)
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
