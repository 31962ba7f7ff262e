# make run   - set up .venv if needed, then serve the embedded default model (OpenAI API + web UI; prints the URL)
# make test  - set up, then run the whole test suite
# make test-simd SIMD=avx2 - the suite again on llama.cpp built for a lower SIMD level (own .venv-SIMD)
# make bench - engine overhead and backend benchmarks (ratios against references in the same run)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edgesplit-setup
SERVE_ARGS ?=
DEMO   ?= In two sentences, why does running a language model on-device help privacy?

SIMD   ?= avx2
TESTS  ?= tests

.PHONY: setup run demo test test-fast test-simd bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh $(wildcard scripts/patches/*.patch)
	bash scripts/setup.sh
	touch $(STAMP)

run: setup
	$(VENV)/bin/edgesplit serve $(SERVE_ARGS)

demo: setup
	$(VENV)/bin/edgesplit run -v "$(DEMO)"

test: setup
	$(PY) -m pytest -q --durations=25

# greedy paths and last bits of the logits differ between SIMD levels: tests must hold on both
test-simd:
	EDGESPLIT_SIMD=$(SIMD) EDGESPLIT_VENV=.venv-$(SIMD) bash scripts/setup.sh
	.venv-$(SIMD)/bin/python -m pytest -q --durations=10 $(TESTS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) bench/engine_overhead.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
