# The two commands of the README: `make demo` and `make test`. Both set up first.
PY := .venv/bin/python
DEMO := demo-out

.PHONY: setup demo test lint clean

setup:
	@scripts/setup

demo: setup
	$(PY) -m pyengine build-rules examples/rules --out $(DEMO)/build
	$(PY) -m pyengine test-rules examples/rules
	$(PY) -m pyengine generate --count 1000000 --out $(DEMO)/transactions.parquet --bad-fraction 0.001
	rm -rf $(DEMO)/run
	$(PY) -m pyengine run --rules $(DEMO)/build --input $(DEMO)/transactions.parquet --output $(DEMO)/run

test: setup
	$(PY) -m pytest -q

lint: setup
	.venv/bin/ruff check pyengine tests
	.venv/bin/mypy

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache build .gradle
