# Two commands do everything on a fresh machine: `make lab` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := data/sample
# Keep Jupyter / IPython / browser state inside the repo, never in $HOME.
export JUPYTER_CONFIG_DIR := $(CURDIR)/state/jupyter/config
export JUPYTER_DATA_DIR := $(CURDIR)/state/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/state/jupyter/runtime
export IPYTHONDIR := $(CURDIR)/state/ipython
export XDG_CONFIG_HOME := $(CURDIR)/state/xdg-config
export XDG_CACHE_HOME := $(CURDIR)/state/xdg-cache
export MPLCONFIGDIR := $(CURDIR)/state/mpl
JOBS ?= 2

.PHONY: env lab test lint bench sample clean

env: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt forensics/ingest/_records_c.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev,bench]'
	# byte-compiled once: every worker process and notebook kernel then starts without
	# compiling polars, pyarrow and the kit (measured ~0.5 s a process where .pyc files are
	# never written, PYTHONDONTWRITEBYTECODE=1)
	$(BIN)/python -m compileall -q -j 0 forensics >/dev/null
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

$(SAMPLE)/.complete: | $(STAMP)
	$(BIN)/forensics sample --force $(SAMPLE)
	touch $@

sample: $(SAMPLE)/.complete

# JupyterLab on the repository root (data/, notebooks/, out/ for tickets), no news pop-up, and
# saving a committed notebook strips its outputs (tools/jupyter/jupyter_server_config.py).
lab: $(STAMP) $(SAMPLE)/.complete
	mkdir -p $(JUPYTER_CONFIG_DIR)/labconfig out
	cp tools/jupyter/jupyter_server_config.py $(JUPYTER_CONFIG_DIR)/jupyter_server_config.py
	cp tools/jupyter/default_setting_overrides.json \
		$(JUPYTER_CONFIG_DIR)/labconfig/default_setting_overrides.json
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --ServerApp.ip=127.0.0.1 \
		--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb \
		--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		--LabApp.extension_manager=readonly \
		$(if $(filter 0,$(shell id -u)),--allow-root)

# The notebooks run twice: as committed, on the sample, under nbval (no cell may fail; their
# checks run from tests/test_notebooks.py; one notebook per worker), and from there with their
# parameters pointed at a trail built from the external samples. The sample's Parquet cache is
# written first, by one process and with the notebooks' own path (the cache is keyed by the path
# as given): two kernels filling it at once race (one prunes the parts the other reads).
test: $(STAMP) $(SAMPLE)/.complete
	$(BIN)/ruff check forensics tests bench tools
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules forensics
	cd notebooks && ../$(BIN)/forensics load ../$(SAMPLE) >/dev/null
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -p no:cacheprovider \
		--nbval-lax --nbval-current-env notebooks/

lint: $(STAMP)
	$(BIN)/ruff check forensics tests bench tools
	$(BIN)/lint-imports
	$(BIN)/ruff format --check forensics tests bench tools

bench: $(STAMP)
	set -e; for f in bench/[a-z]*.py; do echo "== $$f"; $(BIN)/python $$f; done

clean:
	rm -rf $(VENV) state .pytest_cache .ruff_cache .hypothesis
