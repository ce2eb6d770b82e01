# mmar_hydra workflows. `make help` lists the targets.
PYTHON ?= python3
# torch with a torchvision that imports beside it: the whole-slide early-access MMAR (its custom/
# models.py, TorchVisiond) and deepgrow's 2D handlers (make_grid, save_image) need torchvision.
# PyPI's torchvision does not load beside the CPU-only torch wheel (it links torch's CUDA
# libraries), so the pair is PyPI's CUDA build, which runs on the CPU too. When torch and
# torchvision both import already they are left alone; GPU users install their own pair first
# or set TORCH_SPEC.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
MMAR ?= demo
ARGS ?=
PYTEST_ARGS ?=
STAMP := .make/installed

.PHONY: help install demo test test-slow fuzz lint format check train finetune validate validate-ckpt \
	infer export train-multi-gpu validate-multi-gpu bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

# torch comes through pip (it finds the local wheel file and honours the machine's pip cap)
# and is byte-compiled with what it pulled in (sympy, networkx, ...) on both cores afterwards
# (pip does it one file at a time: 44 s against 78 s); the rest comes through uv when it can be had (20 s against pip's 75 s for the dev
# extras, compiled), else through pip. Byte-compiling up front matters: with
# PYTHONDONTWRITEBYTECODE set, as on this machine, nothing is cached at import, and every
# process parses what has no .pyc (import torch 3.3 s instead of 1.8 s; the fast suite 180 s
# instead of 106 s). `make install` prints its time.
SITE_PACKAGES = $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])'

$(STAMP): pyproject.toml
	@mkdir -p .make
	@start=$$(date +%s); \
	if ! $(PYTHON) -c "import torch, torchvision" 2>/dev/null; then \
		$(PYTHON) -m pip install --no-compile $(TORCH_SPEC) || exit $$?; \
		$(PYTHON) -m compileall -q -j 0 "$$($(SITE_PACKAGES))" >/dev/null; \
	fi; \
	if $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv; then \
		$(PYTHON) -m uv pip install --compile-bytecode --python $(PYTHON) -e ".[dev]" || exit $$?; \
	else \
		$(PYTHON) -m pip install -e ".[dev]" || exit $$?; \
	fi; \
	$(PYTHON) -m compileall -q -j 0 mmar_hydra hydra_plugins >/dev/null; \
	echo "make install: $$(( $$(date +%s) - start )) s wall"
	@touch $(STAMP)

install: $(STAMP) ## install mmar_hydra (editable) and its dev tools; torch and torchvision when missing

demo: $(STAMP) ## generate the demo MMAR + synthetic data (if missing) and train it
	$(PYTHON) -m mmar_hydra task=demo_data out=$(MMAR)
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=train $(ARGS)

# the fast suite on both cores: 2 workers of 1 torch thread each (the tests are mostly
# Python-bound; 2 threads per worker only oversubscribe the cores)
TEST_WORKERS ?= 2

test: $(STAMP) ## run the fast test suite (<= 3 min on 2 cores); prints its wall time
	@start=$$(date +%s); status=0; \
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest tests -m "not slow" \
		-n $(TEST_WORKERS) --dist worksteal -p no:cacheprovider $(PYTEST_ARGS) || status=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s wall"; exit $$status

# the notebooks run top to bottom here: each starts a kernel and `python -m mmar_hydra`
# processes as a user would (about 70 s of the 2 cores), so they are end-to-end runs
test-slow: $(STAMP) ## run the long end-to-end tests and the notebooks; prints its wall time
	@start=$$(date +%s); status=0; \
	$(PYTHON) -m pytest -m slow -p no:cacheprovider --durations=25 $(PYTEST_ARGS) || status=$$?; \
	$(PYTHON) -m pytest notebooks --nbmake -p no:cacheprovider || status=$$?; \
	echo "make test-slow: $$(( $$(date +%s) - start )) s wall"; exit $$status

# hostile-input fuzz suite (tests/fuzz/): Hypothesis mutations of the sample MMAR and the public
# MMARs, hostile checkpoints, images, datalists, symlinks and environment files; a fixed seed
FUZZ_EXAMPLES ?= 2000
FUZZ_SEED ?= 0
FUZZ_WORKERS ?= 2

fuzz: $(STAMP) ## fuzz suite: FUZZ_EXAMPLES cases (default 2000) on FUZZ_WORKERS processes
	OMP_NUM_THREADS=1 $(PYTHON) tests/fuzz/run.py --examples $(FUZZ_EXAMPLES) \
		--seed $(FUZZ_SEED) --workers $(FUZZ_WORKERS)

lint: $(STAMP) ## ruff lint + format check + mypy + the import-linter layer contract (pyproject.toml)
	$(PYTHON) -m ruff check mmar_hydra tests
	$(PYTHON) -m ruff format --check mmar_hydra tests
	$(PYTHON) -m mypy
	$(PYTHON) -c "from importlinter.cli import lint_imports_command; lint_imports_command()" --no-cache

format: $(STAMP) ## ruff format + autofix
	$(PYTHON) -m ruff format mmar_hydra tests
	$(PYTHON) -m ruff check --fix mmar_hydra tests

check: $(STAMP) ## task=check on MMAR (default: the demo)
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=check $(ARGS)

train: $(STAMP) ## task=train on MMAR
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=train $(ARGS)

finetune: $(STAMP) ## task=finetune on MMAR (starts from MMAR_CKPT)
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=finetune $(ARGS)

validate: $(STAMP) ## task=validate with the TorchScript model (MMAR_TORCHSCRIPT)
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=validate dont_load_ts_model=false dont_load_ckpt_model=true $(ARGS)

validate-ckpt: $(STAMP) ## task=validate with the checkpoint (MMAR_CKPT)
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=validate dont_load_ts_model=true dont_load_ckpt_model=false $(ARGS)

infer: $(STAMP) ## task=infer: predictions into MMAR_EVAL_OUTPUT_PATH
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=infer $(ARGS)

export: $(STAMP) ## task=export: models/model.ts from models/model.pt
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=export $(ARGS)

GPUS ?= 2
DDP_PRESET = $(shell nvidia-smi -L >/dev/null 2>&1 && echo ddp || echo ddp_cpu)

train-multi-gpu: $(STAMP) ## DDP training on GPUS GPUs (CPU gloo processes when there is no GPU)
	@[ "$(DDP_PRESET)" = ddp ] || echo "no GPU found: running $(GPUS) CPU processes (gloo)"
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=train trainer=$(DDP_PRESET) trainer.devices=$(GPUS) $(ARGS)

validate-multi-gpu: $(STAMP) ## DDP validation on GPUS GPUs (CPU gloo processes when there is no GPU)
	@[ "$(DDP_PRESET)" = ddp ] || echo "no GPU found: running $(GPUS) CPU processes (gloo)"
	$(PYTHON) -m mmar_hydra mmar=$(MMAR) task=validate trainer=$(DDP_PRESET) trainer.devices=$(GPUS) $(ARGS)

bench: $(STAMP) ## benchmarks: mmar_hydra vs a plain PyTorch loop vs monai.bundle (< 15 min)
	$(PYTHON) -m pip install -q -r benchmarks/requirements.txt
	$(PYTHON) benchmarks/run.py

clean: ## remove build and test leftovers (not the demo MMAR)
	rm -rf .make build dist .pytest_cache outputs
