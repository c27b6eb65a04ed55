# parkwatch: `make demo` and `make test` do all set-up themselves on a fresh Debian machine.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DURATION ?=

.PHONY: install system-deps demo test lint typecheck stack-up stack-down clean

install: system-deps $(STAMP)

system-deps:
	@scripts/install-system-deps

$(PY):
	python3 -m venv $(VENV) || { apt-get install -y -q python3-venv && python3 -m venv $(VENV); }

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(VENV)/bin/parkwatch demo $(if $(DURATION),--duration $(DURATION))

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy parkwatch edge_agent stream_processor cloud_api field_sim dashboards bench

test: install lint typecheck
	$(PY) -m pytest

stack-up: install
	$(VENV)/bin/parkwatch stack up

stack-down: $(STAMP)
	$(VENV)/bin/parkwatch stack down

clean:
	-$(VENV)/bin/parkwatch stack down
	rm -rf $(VENV) .parkwatch .pytest_cache .mypy_cache .ruff_cache
