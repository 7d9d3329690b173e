# headstart — two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU torch first, pinned, so nothing below pulls a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,documents]'
	# the voice-encoder's weights file only: resemblyzer's own dependencies (webrtcvad...) are not needed
	$(BIN)/pip install --quiet --no-deps resemblyzer
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	@bash scripts/demo-data.sh
	$(BIN)/python scripts/demo.py

bench: $(STAMP)
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/probe.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
