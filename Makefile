# mesa-maze: every target creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-all lint benchmark benchmark-quick bench-throughput clean

install: $(STAMP)

# torch first (a CPU build from local disk), then the package, whose torch range 2.13.0 satisfies.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check mesa_maze tests benchmarks
	$(BIN)/ruff format --check mesa_maze tests benchmarks

bench-throughput: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

benchmark: $(STAMP)
	$(BIN)/mesa-maze benchmark --suite benchmarks/default.toml

benchmark-quick: $(STAMP)
	$(BIN)/mesa-maze benchmark --suite benchmarks/quick.toml

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
