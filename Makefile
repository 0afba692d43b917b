# CRMS Chat. `make run` serves on http://127.0.0.1:8000 (SQLite, no Redis, sandbox providers);
# `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: install run test bench lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/crms-bot db upgrade
	$(BIN)/crms-bot demo-data --if-empty
	$(BIN)/crms-bot serve --port $(PORT)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.webhook --messages 20

lint: install
	$(BIN)/ruff check bot flows handlers nlu tests bench
	$(BIN)/mypy bot flows handlers nlu

clean:
	rm -rf $(VENV) var .pytest_cache
