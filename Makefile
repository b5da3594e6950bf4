# The two commands of the README: `make demo` and `make test`.
PYTEST := .venv/bin/pytest
# Bytecode caching keeps each pytest start (the tests start many) near one second.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo test unit lint catalogue schema bench bootstrap weekly-report

bootstrap:
	@scripts/bootstrap.sh

## Run every check against the built-in sandbox and archive the report under reports/demo/.
demo: bootstrap
	@$(PYTEST) --env demo -n 2 -q; status=$$?; \
	 echo "Report: $$(readlink -f reports/demo/latest)/report.html"; \
	 exit $$status

## The suite's own tests: the fast in-process ones, the static checks, then the runs against the sandbox.
test: bootstrap
	$(PYTEST) tests/unit -q
	@$(MAKE) --no-print-directory lint
	$(PYTEST) tests -q --ignore=tests/unit

## Fast in-process tests of the core (seconds).
unit: bootstrap
	$(PYTEST) tests/unit -q

## Static checks of the suite's own code: the layers (import-linter), ruff, mypy strict.
lint: bootstrap
	.venv/bin/lint-imports --no-cache
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

## The catalogue of checks (README's table comes from it).
catalogue: bootstrap
	@.venv/bin/python -m fixtures.catalogue --update-readme

## After changing the check record: write sergas/schema/summary.schema.json again.
schema: bootstrap
	.venv/bin/python -m sergas.record

## The weekly report of an environment's last 7 days: make weekly-report ENV=production
weekly-report: bootstrap
	@.venv/bin/python -m sergas report weekly --env $(or $(ENV),demo)

bench: bootstrap
	.venv/bin/python bench/daily.py
	.venv/bin/python bench/startup.py
	.venv/bin/python bench/archive_history.py
