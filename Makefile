# The two commands of the README: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# PyPI offers only the CUDA build of torch for Linux x86_64. When the PyTorch CPU index is
# reachable we take torch from it (a ~200 MB wheel instead of ~3 GB of CUDA libraries).
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install demo test lint check clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	@if [ -z "$$FRAUDSTREAM_TORCH_FROM_PYPI" ] && \
	    $(BIN)/python -c "import urllib.request,sys; urllib.request.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=5)" 2>/dev/null; then \
	  echo "installing the CPU build of torch from $(TORCH_CPU_INDEX)"; \
	  VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install -q --compile-bytecode --index-url $(TORCH_CPU_INDEX) torch; \
	else \
	  echo "the PyTorch CPU index is not reachable: torch comes from PyPI (CUDA build; runs on CPU too)"; \
	fi
	@# --compile-bytecode: uv leaves .py files uncompiled, and where PYTHONDONTWRITEBYTECODE is set
	@# every process would compile torch and transformers again (measured: 15 s -> 7 s to import
	@# transformers' BertModel on two cores), which each processor and model process pays at start.
	VIRTUAL_ENV=$(VENV) $(BIN)/uv pip install -q --compile-bytecode -e '.[test,loadtest,rocksdb]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fraudstream demo

test: $(STAMP)
	$(BIN)/ruff check fraudstream loadtest tests
	$(BIN)/mypy fraudstream loadtest
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check fraudstream loadtest tests
	$(BIN)/ruff format --check fraudstream loadtest tests
	$(BIN)/mypy fraudstream loadtest

clean-venv:
	rm -rf $(VENV)
