# The two commands of the README:
#   make run   set everything up and run the app (web server + worker) on its embedded defaults
#   make test  set everything up and run the whole test suite
#   make demo  the app against the trakt emulator (a simulated trakt), in a data folder of its own
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run demo test test-services deps dev-deps browser emulator bench lint clean

$(VENV)/.deps: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: $(VENV)/.deps requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

run: deps
	$(PY) manage.py serve --port $(PORT)

DEMO_DATA ?= data-demo
DEMO_API_PORT ?= 8765
DEMO_AUTH_PORT ?= 8766
demo: deps
	DATA_DIR=$(DEMO_DATA) TRAKT_API_URL=http://127.0.0.1:$(DEMO_API_PORT) TRAKT_AUTH_URL=http://127.0.0.1:$(DEMO_AUTH_PORT) \
	  $(PY) manage.py demo --port $(PORT)

# Debian's Chromium for the browser tests (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Debian's chromium package (sudo apt-get install chromium) for the browser tests."; fi; }

# Test processes: three on two cores (many tests wait on the emulator's latency or a second process), which took
# the first pass from 8 to 6 minutes on this project's 2-core machine.
TEST_WORKERS ?= 3
export TEST_WORKERS

test: dev-deps browser
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)
	./scripts/test-services.sh
	./scripts/test-image.sh

# The second pass alone: PostgreSQL + Redis + S3-compatible storage, when they are reachable.
test-services: dev-deps
	./scripts/test-services.sh

emulator: deps
	$(PY) -m trakt_emulator --port 8765 --auth-port 8766

bench: dev-deps
	$(PY) bench/backup_bench.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
