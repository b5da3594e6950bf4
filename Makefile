# The two commands of the README: `make demo` and `make test`.
PYTEST := .venv/bin/pytest
# Bytecode caching keeps each pytest start (the tests start many) near one second.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test catalogue bench bootstrap lint

bootstrap:
	@scripts/bootstrap.sh

## Run every check against the built-in sandbox and archive the report under reports/demo/.
demo: bootstrap
	@$(PYTEST) --env demo -n 2 -q; status=$$?; \
	 echo "Report: $$(readlink -f reports/demo/latest)/report.html"; \
	 exit $$status

## The suite's own tests (pytester-driven, against the sandbox).
test: bootstrap
	$(PYTEST) tests -q

## The catalogue of checks (README's table comes from it).
catalogue: bootstrap
	@.venv/bin/python -m fixtures.catalogue --update-readme

bench: bootstrap
	.venv/bin/python bench/daily.py

## Static checks of the suite's own code.
lint: bootstrap
	.venv/bin/ruff check fixtures actions probes sandbox checks tests bench conftest.py
	.venv/bin/mypy fixtures actions probes
