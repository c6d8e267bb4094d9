# Two entry points: `make run` (the sample job on an embedded local Ray) and `make test` (the default suite).
# Both create ./.venv on first use and re-install only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-slow test-browser lint clean-runs

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV): on Debian, apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,train]"  # exact versions tested; train: torch 2.13.0 (CPU)
	@touch $(STAMP)

run: $(STAMP)
	$(PY) jobs/full.py --config jobs/configs/sample.yaml

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check lmpipe tests jobs benches samples
	$(VENV)/bin/ruff format --check lmpipe tests jobs benches samples

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

test-browser: $(STAMP)
	$(PY) -m pytest -q -m browser

clean-runs:
	rm -rf runs
