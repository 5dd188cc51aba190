# The two commands of the README: `make demo` and `make test`. Both set up first.
PY := .venv/bin/python
DEMO := demo-out

.PHONY: setup demo test lint clean

setup:
	@scripts/setup

demo: setup
	$(PY) -m pyengine build-rules examples/rules --out $(DEMO)/build
	$(PY) -m pyengine test-rules examples/rules -v

test: setup
	$(PY) -m pytest -q

lint: setup
	.venv/bin/ruff check pyengine tests
	.venv/bin/mypy

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache build .gradle
