# CRMS Chat. `make run` serves on http://127.0.0.1:8000 (SQLite, no Redis, sandbox providers);
# `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: install ocr-deps run test bench lint clean rasa test-rasa

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# Licence reading uses Debian's Tesseract: installed when we may (root with apt), else said.
OCR_PACKAGES := tesseract-ocr tesseract-ocr-deu tesseract-ocr-fra tesseract-ocr-ita \
                tesseract-ocr-eng tesseract-ocr-osd fonts-dejavu-core
ocr-deps:
	@command -v tesseract >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	      $(OCR_PACKAGES) >/dev/null || echo "NOTE: could not install Tesseract"; \
	  else \
	    echo "NOTE: licence photos are read best with: sudo apt-get install $(OCR_PACKAGES)"; \
	  fi; }

run: install ocr-deps
	$(BIN)/crms-bot db upgrade
	$(BIN)/crms-bot demo-data --if-empty
	$(BIN)/crms-bot serve --port $(PORT)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.nlu
	$(BIN)/python -m bench.webhook
	$(BIN)/python -m bench.licence --images 40
	$(BIN)/python -m bench.reminders --bookings 100000

# Rasa 3.6 needs Python 3.10: its own virtual environment (about 2.7 GB), then the tests
# that talk to a real Rasa server (trained from nlu/data by `crms-bot nlu export-rasa`).
RASA_PYTHON ?= $(shell ls -d $$HOME/.pyenv/versions/3.10.*/bin/python 2>/dev/null | tail -n 1)
RASA_VENV   ?= .venv-rasa

$(RASA_VENV)/bin/rasa:
	@test -n "$(RASA_PYTHON)" || (echo "Rasa 3.6 needs Python 3.10: set RASA_PYTHON" && exit 1)
	$(RASA_PYTHON) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet --upgrade "pip<24"
	$(RASA_VENV)/bin/pip install --quiet "rasa==3.6.21"

rasa: $(RASA_VENV)/bin/rasa

test-rasa: install rasa
	CRMS_RASA_BIN=$(abspath $(RASA_VENV))/bin/rasa $(BIN)/pytest -m rasa -rs tests/integration/test_rasa.py

lint: install
	$(BIN)/ruff check bot flows handlers nlu tests bench
	$(BIN)/mypy bot flows handlers nlu

clean:
	rm -rf $(VENV) $(RASA_VENV) var .pytest_cache
