"""The lite runtime (core install, no TensorFlow) beside the full one (with [train]), in one run.

For each virtualenv: the install size, the import time of `tflipsync.cli` and of each engine
(its module and the library it runs on), the time to the first output frame of
`sync --engine tflite` and of `sticker` (default engine: landmarks), and their frames/s on the
bundled example. Every ratio is full / lite, both measured in this run, runs of the two
interleaved so that a busy machine slows both alike; each time is the median of --repeats runs.

"Time to first output frame" is the wall time from starting the command to its exit on a job of
one output frame (40 ms of the bundled speech, from 1 s in, at its own 22.05 kHz): interpreter
start, imports, model loading, face detection, the frame, its encoding and the file's rename;
the command ends right after that first frame is written. (A sticker's frames are all written at
once, at the end: for a sticker this is the only sense of a first frame.)

"frames/s" is the output frames of the whole bundled example (5.96 s: 149 sync frames at 25 fps,
119 sticker frames at 20 fps) over the command's wall time, so start-up counts; for sync the
command's own "frames/s end to end" (its job clock, imports excluded) is given too.

    python benchmarks/lite_runtime.py [--full .venv] [--lite .venv-lite] [--repeats 3] [--json out.json]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACE = os.path.join(ROOT, "examples", "astronaut.jpg")
SPEECH = os.path.join(ROOT, "examples", "speech.wav")

# Run by each virtualenv's python: import times in seconds, one engine per fresh process.
IMPORTS = """
import sys, time
started = time.perf_counter()
import tflipsync.cli
cli = time.perf_counter()
from tflipsync.inference.engines import ENGINES
import importlib
entry = ENGINES[sys.argv[1]]
entry.load_runtime()
importlib.import_module(entry.module)
print(cli - started, time.perf_counter() - cli)
"""

# Run by each virtualenv's python: frames/s of the embedded generator .tflite alone (batch 1, all
# cores, median of 3 blocks of about 2 s) on each runtime installed there.
RUNTIMES = """
import importlib.util, os, statistics, time
import numpy as np
from tflipsync.deploy.runtime import interpreter
from tflipsync.weights import bundled
content = open(bundled.weights_path("generator_tflite"), "rb").read()
mel, face = np.zeros((1, 80, 16, 1), np.float32), np.zeros((1, 96, 96, 6), np.float32)
for runtime in ("tf", "litert"):
    if runtime == "tf" and importlib.util.find_spec("tensorflow") is None:
        continue
    runner = interpreter(content, os.cpu_count(), runtime).get_signature_runner("generate")
    for _ in range(5):
        runner(mel=mel, face=face)
    rates = []
    for _ in range(3):
        started, calls = time.perf_counter(), 0
        while time.perf_counter() - started < 2.0:
            runner(mel=mel, face=face)
            calls += 1
        rates.append(calls / (time.perf_counter() - started))
    print(runtime, statistics.median(rates))
"""

# Run by each virtualenv's python: bytes of the installed files of the distributions that
# `pip install tflipsync[EXTRA]` pulls in (the closure of its requirements), and their count.
CLOSURE = """
import sys
from importlib import metadata
from packaging.requirements import Requirement

def closure(name, extras, seen):
    key = name.lower().replace("_", "-")
    if key in seen:
        return
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return
    seen[key] = sum(f.size or 0 for f in dist.files or [])
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (extras or [""])):
            closure(req.name, sorted(req.extras), seen)

seen = {}
closure("tflipsync", [e for e in sys.argv[1:] if e], seen)
print(sum(seen.values()), len(seen))
"""


def site_packages_bytes(venv):
    """Bytes of every file under the virtualenv's site-packages (what `du` counts, no blocks)."""
    folder = os.path.join(venv, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}", "site-packages")
    if not os.path.isdir(folder):
        raise SystemExit(f"{folder}: no such folder (make .venv/.test and .venv-lite/.runtime first)")
    total = 0
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def run(venv, argv):
    result = subprocess.run([os.path.join(venv, "bin", argv[0]), *argv[1:]], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if result.returncode != 0:
        raise SystemExit(f"{venv}: {' '.join(argv)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def timed(venv, argv):
    """(wall seconds, stdout) of one command."""
    started = time.perf_counter()
    out = run(venv, argv)
    return time.perf_counter() - started, out


def speech_slice(folder):
    """40 ms of the bundled speech from 1 s in, at its own rate: a one-frame job."""
    import wave

    path = os.path.join(folder, "one_frame.wav")
    with wave.open(SPEECH) as source, wave.open(path, "wb") as out:
        rate = source.getframerate()
        source.setpos(rate)
        out.setparams(source.getparams())
        out.writeframes(source.readframes(int(0.04 * rate)))
    return path


def jobs(folder, one_frame):
    """{name: (argv, whether it is the one-frame job)}."""
    common = ["--face", FACE, "--progress=false"]
    return {
        "sync --engine tflite, first frame": (["tflipsync", "sync", "--engine", "tflite", *common, "--audio",
                                               one_frame, "--out", os.path.join(folder, "one.mp4")], True),
        "sticker, first frame": (["tflipsync", "sticker", *common, "--audio", one_frame, "--out",
                                  os.path.join(folder, "one.gif")], True),
        "sync --engine tflite, example": (["tflipsync", "sync", "--engine", "tflite", *common, "--audio", SPEECH,
                                           "--out", os.path.join(folder, "all.mp4")], False),
        "sticker, example": (["tflipsync", "sticker", *common, "--audio", SPEECH, "--out",
                              os.path.join(folder, "all.gif")], False),
    }


def measure(venvs, repeats):
    """{venv label: {figure: value}}."""
    figures = {label: {} for label in venvs}
    for label, venv in venvs.items():
        has_tf = subprocess.run([os.path.join(venv, "bin", "python"), "-c", "import tensorflow"],
                                capture_output=True).returncode == 0
        figures[label]["tensorflow installed"] = has_tf
        figures[label]["site-packages MB"] = site_packages_bytes(venv) / 1e6
        extra = "train" if has_tf else ""
        size, count = run(venv, ["python", "-c", CLOSURE, extra]).split()
        figures[label]["install MB (full: tflipsync[train], lite: tflipsync, with dependencies)"] = int(size) / 1e6
        figures[label]["closure distributions"] = int(count)
        for line in run(venv, ["python", "-c", RUNTIMES]).splitlines():
            runtime, rate = line.split()
            name = {"tf": "tf.lite.Interpreter", "litert": "LiteRT"}[runtime]
            figures[label][f"embedded .tflite alone, {name}, frames/s"] = float(rate)
    samples = {label: {} for label in venvs}
    with tempfile.TemporaryDirectory(prefix="tflipsync-lite-bench-") as folder:
        one_frame = speech_slice(folder)
        for _ in range(repeats):
            for label, venv in venvs.items():  # interleaved: a busy machine slows both alike
                for engine in ("tflite", "landmarks"):
                    cli, engine_import = map(float, run(venv, ["python", "-c", IMPORTS, engine]).split())
                    samples[label].setdefault("import tflipsync.cli s", []).append(cli)
                    samples[label].setdefault(f"import {engine} engine s", []).append(engine_import)
                for name, (argv, first) in jobs(folder, one_frame).items():
                    seconds, out = timed(venv, argv)
                    if first:
                        samples[label].setdefault(f"{name} s", []).append(seconds)
                        continue
                    frames = int(re.search(r"(\d+) frames", out).group(1))
                    samples[label].setdefault(f"{name} frames/s (wall)", []).append(frames / seconds)
                    clock = re.search(r"([\d.]+) frames/s end to end", out)
                    if clock:
                        samples[label].setdefault(f"{name} frames/s (job clock)", []).append(float(clock.group(1)))
    for label in venvs:
        figures[label].update({k: statistics.median(v) for k, v in samples[label].items()})
    return figures


def table(figures, full, lite):
    rows = [f"| figure | {full} | {lite} | {full} / {lite} |", "|---|---|---|---|"]
    for key in figures[lite]:
        a, b = figures[full].get(key), figures[lite][key]
        if isinstance(b, bool):
            rows.append(f"| {key} | {a} | {b} | |")
            continue
        ratio = f"{a / b:.2f}" if isinstance(a, (int, float)) and b else ""
        rows.append(f"| {key} | {a:.2f} | {b:.2f} | {ratio} |" if a is not None else f"| {key} | | {b:.2f} | |")
    for key in figures[full]:
        if key not in figures[lite]:
            rows.append(f"| {key} | {figures[full][key]:.2f} | | |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", default=os.path.join(ROOT, ".venv"), help="the full virtualenv (with [train])")
    parser.add_argument("--lite", default=os.path.join(ROOT, ".venv-lite"), help="the lite virtualenv (core only)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(["lscpu"], capture_output=True, text=True)
                .stdout.splitlines() if line.startswith("Model name")), "unknown CPU")
    venvs = {"full": args.full, "lite": args.lite}
    load = os.getloadavg()[0]
    figures = measure(venvs, args.repeats)
    load = (load, os.getloadavg()[0])
    print(f"CPU: {cpu}, {os.cpu_count()} cores; medians of {args.repeats} runs; load average (1 min) "
          f"{load[0]:.1f} before, {load[1]:.1f} after\n")
    print(table(figures, "full", "lite"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "repeats": args.repeats, "load_average": load, "figures": figures}, f, indent=2)


if __name__ == "__main__":
    main()
