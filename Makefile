# Two commands for a fresh machine (each creates .venv on first use):
#   make demo   install ecgxai and run the main job on the bundled default
#   make test   install ecgxai with its test tools and run the test suite
# `make test-light` runs the tests that need no TensorFlow in .venv-light, installed without the keras extra.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LIGHT_VENV ?= .venv-light
LIGHT_BIN := $(LIGHT_VENV)/bin
# Extra packages for the test environment, e.g. EXTRA_TEST_PKGS="torch==2.13.0" (as .ci/run does).
EXTRA_TEST_PKGS ?=
REFERENCE ?= ../shared/reference
OUT ?= out/demo

.PHONY: install install-dev demo demo-reference test test-light lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.stamp-install: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[keras]"
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,keras,onnx,dask]"
	touch $@ $(VENV)/.stamp-install

install: $(VENV)/.stamp-install

install-dev: $(VENV)/.stamp-dev

demo: install
	$(BIN)/ecgxai demo --out $(OUT)

# The same steps on the real reference model and records (../shared/reference, when present).
demo-reference: install
	@if [ ! -d "$(REFERENCE)/records" ]; then \
	  echo "demo-reference: reference data not found at $(REFERENCE) (set REFERENCE=DIR)"; exit 1; fi
	$(BIN)/ecgxai predict $(REFERENCE)/records --model $(REFERENCE)/model/resnet_final_weights.h5 \
	  --architecture physionet2020_resnet --classes $(REFERENCE)/snomed_classes.txt \
	  --out out/reference/probs.csv
	$(BIN)/ecgxai select --probs out/reference/probs.csv --require-label \
	  --duration-cache out/reference/durations.json --out out/reference/selection.csv
	@echo "demo-reference: probabilities and selection in out/reference"

test: install-dev
	@if [ -n "$(EXTRA_TEST_PKGS)" ]; then $(BIN)/python -m pip install --quiet $(EXTRA_TEST_PKGS); fi
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

# Without the keras extra: `import tensorflow` must fail, and tests marked `keras` skip with the reason.
$(LIGHT_VENV)/.stamp-light: pyproject.toml
	$(PYTHON) -m venv $(LIGHT_VENV)
	$(LIGHT_BIN)/python -m pip install --quiet --upgrade pip
	$(LIGHT_BIN)/python -m pip install --quiet -e ".[dev,onnx]"
	touch $@

test-light: $(LIGHT_VENV)/.stamp-light
	@if [ -n "$(EXTRA_TEST_PKGS)" ]; then $(LIGHT_BIN)/python -m pip install --quiet $(EXTRA_TEST_PKGS); fi
	@if $(LIGHT_BIN)/python -c "import tensorflow" 2>/dev/null; then \
	  echo "make test-light: tensorflow is installed in $(LIGHT_VENV)" >&2; exit 1; fi
	@echo "make test-light: $(LIGHT_VENV) takes $$(du -sh $(LIGHT_VENV) | cut -f1)"
	$(LIGHT_BIN)/python -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test-light: no tests were collected" >&2; exit 1; fi; exit $$rc

bench: install-dev
	$(BIN)/python benchmarks/explain.py --reference $(REFERENCE)
	$(BIN)/python benchmarks/compare.py --data reference --reference $(REFERENCE)
	$(BIN)/python benchmarks/compare.py --data synthetic
	$(BIN)/python benchmarks/localisation.py
	$(BIN)/python benchmarks/segmentation.py
	$(BIN)/python benchmarks/throughput.py --reference $(REFERENCE)

lint: install-dev
	$(BIN)/ruff check src tests benchmarks scripts

clean:
	rm -rf $(VENV) $(LIGHT_VENV) out .pytest_cache .ruff_cache
