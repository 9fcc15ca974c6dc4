# Commands for a fresh machine (see README):
#   make lab    set up, start the bundled mock and JupyterLab on the notebooks
#   make test   set up (including a browser and the npm packages for the end-to-end tests) and run every test
#   make room   (the instructor) set up, start one mock for a whole classroom: learners join at its /join page;
#               ROOM_ARGS passes options on, e.g. make room ROOM_ARGS="--port 4100 --issuer http://classroom-pc.local:4100"
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: lab test setup setup-test browser test-tools bench mock walkthrough room

# What a learner needs (the notebooks, the mock, the walkthrough): no test tools. pip shows its progress.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Setting up the kit in $(VENV) (first time: a minute or two) ..."
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -e .
	touch $@

# What the tests need on top.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

setup-test: $(VENV)/.installed-test

browser:
	@bash scripts/install-browser.sh

# The npm packages the browser tests load (pinned, into .test-tools/): never fetched by pytest itself.
test-tools:
	@bash scripts/install-test-tools.sh

lab: setup
	$(PY) scripts/lab.py

mock: setup
	$(PY) -m mock_idp

# One mock for the whole room (mock_idp/room/): every address by default, port 4000.
room: setup
	$(PY) -m mock_idp --room $(ROOM_ARGS)

walkthrough: setup
	$(PY) -m walkthrough

test: setup-test browser test-tools
	$(PY) -m pytest

bench: setup-test
	$(PY) benchmarks/run_all.py
