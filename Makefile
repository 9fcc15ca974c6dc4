# Commands for a fresh machine (see README). Every target runs start.py, which does the work on
# every platform (Windows has no make: there it is `py start.py lab`), so there is one path:
#   make lab    = python3 start.py lab    set up, start the bundled mock and JupyterLab on the notebooks
#   make test   = python3 start.py test   set up (including a browser and the npm packages for the end-to-end tests) and run every test
#   make room   (the instructor) set up, start one mock for a whole classroom: learners join at its /join page;
#               ROOM_ARGS passes options on, e.g. make room ROOM_ARGS="--port 4100 --issuer http://classroom-pc.local:4100"
# start.py installs into the active virtual or conda environment if there is one, else into .venv/;
# VENV=path picks a virtual environment instead (made if missing).
PYTHON ?= python3
VENV ?=
START = $(strip $(PYTHON) start.py $(if $(VENV),--venv "$(VENV)"))

.PHONY: lab test setup setup-test browser test-tools bench mock walkthrough room

# What a learner needs (the notebooks, the mock, the walkthrough): no test tools. pip shows its progress.
setup:
	$(START) setup

# That and everything the tests need (chromium, the npm packages), running nothing: then the suite runs offline.
setup-test:
	$(START) setup-test

lab:
	$(START) lab

# start.py test runs scripts/install-browser.sh and scripts/install-test-tools.sh, then pytest.
test:
	$(START) test

# Debian's chromium and curl, alone.
browser:
	@bash scripts/install-browser.sh

# The npm packages the browser tests load (pinned, into .test-tools/): never fetched by pytest itself.
test-tools:
	@bash scripts/install-test-tools.sh

mock:
	$(START) mock

# One mock for the whole room (mock_idp/room/): every address by default, port 4000.
room:
	$(START) room $(ROOM_ARGS)

walkthrough:
	$(START) walkthrough

bench:
	$(START) bench
