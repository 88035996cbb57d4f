# Set-up is part of every target: on a fresh machine `make demo` or `make test` installs what it
# needs (espeak-ng from Debian, a virtualenv with the package) and then runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The lite runtime: the core install alone (sync and sticker with the landmarks and tflite engines
# on LiteRT, no TensorFlow); tests/test_lite.py runs the commands in it.
LITE := .venv-lite

.PHONY: demo test bench setup

$(VENV)/.runtime: setup.py .ci/system-deps.sh tflipsync/faces/assets.py
	bash .ci/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[train]"
	$(BIN)/tflipsync fetch-models
	touch $@

$(LITE)/.runtime: setup.py .ci/system-deps.sh tflipsync/faces/assets.py
	bash .ci/system-deps.sh
	test -x $(LITE)/bin/python || $(PYTHON) -m venv $(LITE)
	$(LITE)/bin/pip install -q -e .
	$(LITE)/bin/tflipsync fetch-models
	touch $@

$(VENV)/.test: $(VENV)/.runtime setup.py
	bash .ci/system-deps.sh test
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.test

demo: $(VENV)/.runtime
	mkdir -p out
	$(BIN)/tflipsync sync --face examples/astronaut.jpg --audio examples/speech.wav --out out/demo.mp4
	$(BIN)/tflipsync sticker --face examples/astronaut.jpg --audio examples/speech.wav --out out/demo.gif

test: $(VENV)/.test $(LITE)/.runtime
	$(BIN)/python -m pytest -q tests

bench: $(VENV)/.test
	$(BIN)/python benchmarks/inference.py
