# The two commands of the README: `make demo` and `make test`.
# Each sets up .venv on its own when needed (idempotent: a stamp file records the install).
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# CPU wheel on our machines; Colab/Kaggle keep their own torch and never run this Makefile.
TORCH   := torch==2.13.0
# demo size for `make demo` (tiny | small | medium); `make test` always uses tiny.
DEMO_SIZE ?= small

.PHONY: demo test bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "$(TORCH)"
	$(VPY) -m pip install -q -e ".[notebooks,dev]" "$(TORCH)"
	touch $(STAMP)

demo: $(STAMP)
	$(VPY) -m common.run_notebooks --size $(DEMO_SIZE)

test: $(STAMP)
	$(VPY) -m ruff check .
	$(VPY) -m pytest -n 2 -q

bench: $(STAMP)
	for b in benchmarks/[!_]*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

clean:
	rm -rf runs .pytest_cache
