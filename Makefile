# mesa-maze: every target creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
# Extras of the editable install; EXTRAS=dev leaves Ray out (its tests then skip).
EXTRAS ?= dev,ray
RAY_PORT ?= 6390
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-all lint benchmark benchmark-quick bench-throughput bench-learning clean test-ray benchmark-ray \
	benchmark-remedies test-browser

install: $(STAMP)

# torch first (a CPU build from local disk), then the package, whose torch range 2.13.0 satisfies.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The slow Ray tests (same numbers as the local pool on the quick suite); the fast ones run in
# `make test`.
test-ray: $(STAMP)
	$(BIN)/python -m pytest -q -m "ray and slow"

# The static site (mesa-maze report) in headless Chromium: Debian's chromium (installed when
# missing and we are root) driven by playwright (the extra mesa-maze[browser]).
test-browser: $(STAMP)
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else echo "test-browser: needs /usr/bin/chromium (apt-get install chromium, as root)"; exit 1; fi; \
	fi
	$(BIN)/pip install -q playwright
	$(BIN)/python -m pytest -q -m browser

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check mesa_maze tests benchmarks
	$(BIN)/ruff format --check mesa_maze tests benchmarks
	$(BIN)/lint-imports

bench-throughput: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

# PPO's train exit rate against frames and CPU-seconds, previous vs default config, 5 seeds, and
# the default config at 9x9 and 11x11 (results/perf/learning.csv; resumable; about 40 minutes).
bench-learning: $(STAMP)
	$(BIN)/python benchmarks/learning.py

benchmark: $(STAMP)
	$(BIN)/mesa-maze benchmark --suite benchmarks/default.toml

benchmark-quick: $(STAMP)
	$(BIN)/mesa-maze benchmark --suite benchmarks/quick.toml

# DR-α, PLR⊥ and ACCEL at α in {0, 0.01, 0.02, 0.1}: 60 PPO runs of 400k steps, 5 seeds (35 min
# on 2 cores, shared with tests part of the time: results/perf/suite_time_remedies.csv).
benchmark-remedies: $(STAMP)
	$(BIN)/mesa-maze benchmark --suite benchmarks/remedies.toml

# The quick suite through a Ray instance started the way a cluster's head is, stopped at the end
# (`ray stop` stops every Ray instance of this user on this machine). `--address auto` finds the
# instance just started, with its token authentication if Ray turned it on (Ray >= 2.59 does when
# ~/.ray/auth_token exists).
benchmark-ray: $(STAMP)
	$(BIN)/ray start --head --port=$(RAY_PORT) --include-dashboard=false --disable-usage-stats
	trap '$(BIN)/ray stop' EXIT; $(BIN)/mesa-maze benchmark --suite benchmarks/quick.toml \
		--executor ray --address auto

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
