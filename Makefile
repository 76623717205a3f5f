# The two set-up commands of the README. Each creates .venv when missing and installs exactly what
# it needs from the repo's own files (CPU torch pinned), then runs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.coin-installed
REQS   := requirements/cpu.txt requirements/test.txt requirements/web.txt

.PHONY: demo test lint format venv browser dicomtools clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(addprefix -r ,$(REQS))
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

# Main job: fetch the real CT, paste the fixed test lesions, segment with the bundled demo model.
demo: $(STAMP)
	$(PY) -m coin_core demo --out demo_output

# Browser test dependencies (Debian chromium + playwright-core from npm); skipped when present.
browser:
	@bash scripts/setup_browser.sh

# dciodvfy (Debian dicom3tools) validates the DICOM SEG files in the tests; skipped when present.
dicomtools:
	@bash scripts/setup_dicom_tools.sh

test: $(STAMP) browser dicomtools
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean-venv:
	rm -rf $(VENV)
