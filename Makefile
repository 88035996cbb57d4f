# Set-up is part of every target: on a fresh machine `make demo` or `make test` installs what it
# needs (espeak-ng from Debian, a virtualenv with the package) and then runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The lite runtime: the core install alone (sync and sticker with the landmarks and tflite engines
# on LiteRT, no TensorFlow); tests/test_lite.py runs the commands in it.
LITE := .venv-lite

.PHONY: demo test bench setup app

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

# The web sticker maker (app/, docs/app.md): npm packages from the lock file, the esbuild bundle
# in app/dist, the models of `tflipsync export app`, and Chromium for its browser test.
app/node_modules/.package-lock.json: app/package.json app/package-lock.json
	cd app && npm ci --no-audit --no-fund
	touch $@

app: app/node_modules/.package-lock.json $(VENV)/.runtime
	bash .ci/system-deps.sh browser
	cd app && node build.mjs
	$(BIN)/tflipsync export app --out app/dist/models

test: $(VENV)/.test $(LITE)/.runtime app
	$(BIN)/python -m pytest -q tests

bench: $(VENV)/.test
	$(BIN)/python benchmarks/inference.py
