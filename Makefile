# theraflow: set-up, demo, tests, benchmarks. The README's two commands call these.
#
#   make demo    set up .venv and run the demo workflow (offline, minutes)
#   make test    set up .venv and run the test suite
#
# PyTorch is installed before theraflow (a bare `torch` requirement resolved first
# would pull a multi-GB CUDA build). CPU 2.13.0 by default; for a GPU build:
#   make venv TORCH_VERSION=2.6.0 TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_INDEX_URL ?=
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (TEST_WORKERS=0: one process, as plain `pytest` runs)
TEST_WORKERS ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.theraflow-installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv venv-nnunet demo test bench bench-seg lint clean-results

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

# nnU-Net v2 for the segmentation side by side, with the installed torch pinned by a constraints file
# (without it pip swaps the CPU torch for a multi-GB CUDA build; torchvision pins its torch exactly, so
# pip picks the torchvision of that torch)
venv-nnunet: venv
	@$(BIN)/python -c "import torch; print(f'torch=={torch.__version__}')" > $(VENV)/nnunet-constraints.txt; \
	$(BIN)/python -m pip install --quiet -c $(VENV)/nnunet-constraints.txt -e ".[nnunet]" && \
	if ! $(BIN)/python -c "import torchvision" 2>/dev/null; then \
	  echo "torchvision from PyPI is built for CUDA torch and cannot load beside the CPU torch: removed, with timm"; \
	  echo "(only nnU-Net's Primus/EVA networks import them, not the 3d_fullres PlainConvUNet)"; \
	  $(BIN)/python -m pip uninstall --quiet -y torchvision timm; \
	fi && \
	$(BIN)/python -c "import torch, nnunetv2, theraflow.imaging.train; print('nnunetv2 installed; torch', torch.__version__)"

demo: venv
	@start=$$(date +%s); \
	$(BIN)/snakemake --profile profiles/default && \
	$(BIN)/theraflow summary results && \
	echo "demo finished in $$(( $$(date +%s) - start )) s (results/ with its logs in results/logs/, feature store in resources/)"

test: venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: venv
	$(BIN)/python benchmarks/featurize.py

# imaging: theraflow and nnU-Net v2 on ../shared/data/hippocampus, 60 minutes of training each on this
# machine; writes benchmarks/results/seg_hippocampus.json and keeps theraflow's model in
# resources/models/seg_hippocampus
bench-seg: venv-nnunet
	$(BIN)/python benchmarks/seg_hippocampus.py

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/snakemake --lint

clean-results:
	rm -rf results logs .snakemake
