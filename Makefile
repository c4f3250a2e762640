# deepsim-lite: the two commands of the README (`make demo`, `make test`) and a few helpers.
# Each target creates or refreshes .venv with pip first; nothing else needs to be installed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.deps-stamp
TORCH  := torch==2.14.1 torchvision==0.29.1
EXTRAS := cpu,notebooks,test
export DEEPSIM_MODE ?= lesson

.PHONY: demo test lint lab primitives bench clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/deepsim-lite demo --out outputs/demo

test: $(STAMP) lint
	$(PY) -m pytest tests
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
		$(PY) -m pytest --nbval-lax -p no:cacheprovider notebooks; \
	else echo "notebooks/: no lessons yet, nbval skipped"; fi

lint: $(STAMP)
	$(PY) -m ruff check --output-format concise deepsim_lite tests benchmarks scripts

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# Rewrite data/primitives/*.png from data/images/ (committed; run after changing primitives.py).
primitives: $(STAMP)
	$(VENV)/bin/deepsim-lite primitives --out data/primitives

bench: $(STAMP)
	$(PY) benchmarks/tps_speed.py

clean-venv:
	rm -rf $(VENV)
