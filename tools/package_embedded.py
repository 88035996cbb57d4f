"""Packs finished `train.py` runs into the embedded default model (tflipsync/weights/).

A release step, not part of the product. The expert's best-by-validation weights and the
generator's final ones:

    python tools/package_embedded.py --expert_dir RUNS/expert --generator_dir RUNS/generator \
        --corpus "100 synthetic clips: tflipsync synth --clips 100 --seed 11"

and the landmark LSTM (best-by-validation weights, its entry added to model.json beside the
others):

    python tools/package_embedded.py --landmarks_dir RUNS/landmarks

and the articulation model (tools/train_articulation.py's .npz, with the JSON report beside it),
which becomes the landmarks engine's embedded predictor; --default_engine records the engine
`sync` and `sticker` run without --engine (chosen on the held-out real clips, docs/real_faces.md):

    python tools/package_embedded.py --articulation RUNS/articulation/articulation.npz --default_engine landmarks

and the embedded generator as a .tflite, what `--engine tflite` runs without --weights (on LiteRT
alone in a lite install), converted from the embedded Keras generator and measured against it
(PSNR on the bundled example's face crops and speech windows, `example_samples`); run it again
whenever the generator's weights change:

    python tools/package_embedded.py --generator_tflite fp16
"""

import json
import os
import shutil
import sys

import numpy as np

from tflipsync import files
from tflipsync.weights.bundled import WEIGHTS_DIR, manifest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_FACE = os.path.join(ROOT, "examples", "astronaut.jpg")
EXAMPLE_SPEECH = os.path.join(ROOT, "examples", "speech.wav")
TFLITE_BATCH = 1  # the engine calls a fixed-batch file once per frame; batch 1 fits any --batch_size


def _validation(model_dir, metric=None):
    """(step, {tag: value}) of one evaluation of a train.py run: the one with the lowest
    `metric`, or the last one when `metric` is None."""
    from tflipsync.training.curves import read_scalars

    scalars = read_scalars(os.path.join(model_dir, "validation"))
    if not scalars or (metric is not None and metric not in scalars):
        raise ValueError(f"{model_dir}: no validation '{metric or 'any'}' summaries")
    if metric is None:
        step = max(s for points in scalars.values() for s, _ in points)
    else:
        step, _ = min(scalars[metric], key=lambda point: point[1])
    return step, {tag: value for tag, points in scalars.items() for s, value in points if s == step}


def _read_flags(model_dir):
    with open(os.path.join(model_dir, "flags.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def package(expert_dir, generator_dir, corpus, out_dir=WEIGHTS_DIR, generator_pick="final"):
    """Copies two runs' weights into `out_dir` and writes model.json beside them.

    The expert is the run's best by validation loss. The generator is its final weights by
    default: its best-by-L1 weights usually come from before the sync loss switched on, and
    the sync loss is what makes the mouth follow the audio ("best" takes them anyway).
    """
    runs = {"expert": (expert_dir, "best", "loss"),
            "generator": (generator_dir, generator_pick, "l1")}
    entries, widths = {}, set()
    os.makedirs(out_dir, exist_ok=True)
    for kind, (model_dir, pick, metric) in runs.items():
        folder = os.path.join(model_dir, "best") if pick == "best" else model_dir
        source = os.path.join(folder, f"{kind}.weights.h5")
        if not os.path.isfile(source):
            raise ValueError(f"{source}: no {pick} weights in this run")
        flags = _read_flags(model_dir)
        widths.add(next(float(f.split("=", 1)[1]) for f in flags if f.startswith("--width=")))
        step, figures = _validation(model_dir, metric if pick == "best" else None)
        name = f"{kind}.weights.h5"
        with files.atomic_path(os.path.join(out_dir, name)) as temporary:
            shutil.copyfile(source, temporary)
        entries[kind] = {"file": name, "sha256": files.sha256(os.path.join(out_dir, name)), "step": step,
                         "picked": pick, "validation": {k: round(v, 5) for k, v in sorted(figures.items())},
                         "flags": flags}
    if len(widths) != 1:
        raise ValueError(f"the two runs have different widths: {sorted(widths)}")
    if os.path.isfile(os.path.join(out_dir, "model.json")):
        kept = manifest(out_dir)["files"]  # other kinds (the landmark LSTM) stay as they are
        entries = {**{k: v for k, v in kept.items() if k not in entries}, **entries}
    info = {"width": widths.pop(), "trained_on": corpus, "files": entries}
    _write_manifest(info, out_dir)
    return info


def _write_manifest(info, out_dir):
    files.write_bytes(os.path.join(out_dir, "model.json"), json.dumps(info, indent=2) + "\n")


def package_landmarks(model_dir, out_dir=WEIGHTS_DIR, corpus=None):
    """Copies a landmark run's best-by-validation weights into `out_dir` and adds their entry
    (architecture, step, validation figures, flags, sha256) to its model.json."""
    source = os.path.join(model_dir, "best", "landmarks.weights.h5")
    if not os.path.isfile(source):
        raise ValueError(f"{source}: no best weights in this run")
    flags = dict(f[2:].split("=", 1) for f in _read_flags(model_dir) if "=" in f)
    if flags.get("model") != "landmarks":
        raise ValueError(f"{model_dir}: not a landmarks run (--model={flags.get('model')})")
    config = {"delay": int(flags["delay"]), "units": int(flags["units"]),
              "pca_dims": int(flags["pca_dims"]), "bidirectional": flags["bidirectional"] == "True"}
    step, figures = _validation(model_dir, "loss")
    name = "landmarks.weights.h5"
    with files.atomic_path(os.path.join(out_dir, name)) as temporary:
        shutil.copyfile(source, temporary)
    info = manifest(out_dir)
    entry = {"file": name, "sha256": files.sha256(os.path.join(out_dir, name)), "step": step,
             "picked": "best", "config": config,
             "validation": {k: round(v, 5) for k, v in sorted(figures.items())},
             "flags": _read_flags(model_dir)}
    if corpus:
        entry["trained_on"] = corpus
    info["files"]["landmarks"] = entry
    _write_manifest(info, out_dir)
    return entry


def package_articulation(model_path, out_dir=WEIGHTS_DIR, default_engine=None):
    """Copies an articulation model into `out_dir`, adds its entry to model.json and makes it the
    landmarks engine's embedded predictor ("landmarks_default")."""
    from tflipsync.landmarks.articulation import ArticulationModel

    model = ArticulationModel.load(model_path)  # refuses what is not one
    name = "articulation.npz"
    with files.atomic_path(os.path.join(out_dir, name)) as temporary:
        shutil.copyfile(model_path, temporary)
    report_path = os.path.splitext(model_path)[0] + ".json"
    report = json.load(open(report_path)) if os.path.isfile(report_path) else {}
    info = manifest(out_dir)
    entry = {"file": name, "sha256": files.sha256(os.path.join(out_dir, name)),
             "trained_on": model.info.get("trained_on", ""), "alpha": model.info.get("alpha"),
             "validation": {"median_r_predicted_gap": model.info.get("val_median_r")},
             "test": {"median_r_predicted_gap": model.info.get("test_median_r")},
             "train_frames": report.get("train_frames"),
             "command": "python -m tools.train_articulation --out=runs/articulation/articulation.npz"}
    info["files"]["articulation"] = entry
    info["landmarks_default"] = "articulation"
    if default_engine:
        info["default_engine"] = default_engine
    _write_manifest(info, out_dir)
    return entry


def example_samples(count=32, seed=0):
    """{"mel" (count, 80, 16, 1), "face" (count, 96, 96, 6)}: generator inputs as `sync` makes them
    from the bundled example (examples/astronaut.jpg, examples/speech.wav): the detected face's
    padded box moved and scaled by a few pixels per sample, each crop its own reference, and
    the mel windows of `count` frames spread over the speech at 25 fps."""
    from tflipsync.audio import io as audio_io
    from tflipsync.faces import crop, detect
    from tflipsync.inference import plan
    from tflipsync.media import images

    rgb = images.read_image(EXAMPLE_FACE)
    with detect.FaceDetector() as detector:
        found = detector.detect(rgb)
    if not found:
        raise ValueError(f"{EXAMPLE_FACE}: no face found")
    box = crop.pad_box(found[0].box, rgb.shape[:2])
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        size = (box[2:] - box[:2])[[0, 1, 0, 1]]  # (w, h, w, h)
        moved = box + rng.integers(-4, 5, 4) * size / 96  # each edge by up to 4 crop pixels
        crops.append(crop.face_input(rgb, crop.pad_box(moved, rgb.shape[:2], (0, 0, 0, 0))))
    crops = np.stack(crops)  # (count, 96, 96, 3) BGR in [0, 1]
    wav = audio_io.load_wav(EXAMPLE_SPEECH)
    frames = max(count, int(len(wav) / 16000 * 25))
    windows = plan.mel_windows(wav, frames, 25.0)[np.linspace(0, frames - 1, count).astype(int)]
    return {"mel": windows[..., None].astype(np.float32),  # (count, 80, 16, 1)
            "face": images.masked_face_input(crops, crops)}


def generator_tflite_psnr(content, generator=None, samples=None):
    """PSNR in dB of a generator .tflite's images against the Keras generator's (the embedded one
    by default) on `samples` (default: `example_samples()`), run with LiteRT."""
    from tflipsync.deploy.runtime import run_keras, run_tflite
    from tflipsync.evaluation import metrics
    from tflipsync.weights import bundled

    generator = generator or bundled.load("generator")
    samples = samples or example_samples()
    image = run_tflite(content, "generator", samples, runtime="litert")[0]
    return metrics.pooled_psnr(image, run_keras(generator, "generator", samples))


def package_generator_tflite(mode, out_dir=WEIGHTS_DIR):
    """Converts the embedded Keras generator to a `mode` .tflite (fp32, fp16, or int8 calibrated
    on the bundled example) in `out_dir` (batch TFLITE_BATCH,
    the "generate" signature only) and adds its entry "generator_tflite" to model.json: file,
    sha256, mode, bytes, batch, the Keras weights' sha256 it was made from, and its PSNR against
    them on the bundled example (`example_samples`)."""
    from tflipsync.deploy import tflite
    from tflipsync.weights import bundled

    generator = bundled.load("generator", out_dir)
    # int8 calibrates on other draws of the example than the 32 it is measured on
    calibration = example_samples(128, seed=1) if mode == "int8" else None
    content, _ = tflite.convert("generator", generator, mode, TFLITE_BATCH, calibration=calibration,
                                audio_to_mel=False, log=lambda line: None)
    psnr = generator_tflite_psnr(content, generator)
    name = f"generator_{mode}.tflite"
    old = manifest(out_dir)["files"].get("generator_tflite")
    files.write_bytes(os.path.join(out_dir, name), content)
    if old and old["file"] != name and os.path.isfile(os.path.join(out_dir, old["file"])):
        os.remove(os.path.join(out_dir, old["file"]))
    info = manifest(out_dir)  # read again: another entry may have been added meanwhile
    entry = {"file": name, "sha256": files.sha256(os.path.join(out_dir, name)), "mode": mode,
             "bytes": len(content), "batch": TFLITE_BATCH,
             "from": {"generator_sha256": info["files"]["generator"]["sha256"]},
             "psnr_db_vs_keras": round(float(psnr), 2),
             "measured_on": "32 generator inputs of the bundled example (tools/package_embedded.py "
                            "example_samples), run with ai-edge-litert",
             "command": f"python tools/package_embedded.py --generator_tflite {mode}"}
    info["files"]["generator_tflite"] = entry
    _write_manifest(info, out_dir)
    return entry


def main(argv):
    from absl import flags

    del argv
    try:
        if flags.FLAGS.generator_tflite:
            entry = package_generator_tflite(flags.FLAGS.generator_tflite)
            print(f"generator_tflite: {entry['file']}, {entry['bytes'] / 1e6:.2f} MB, PSNR "
                  f"{entry['psnr_db_vs_keras']} dB vs Keras, sha256 {entry['sha256'][:12]}")
            return 0
        if flags.FLAGS.articulation:
            entry = package_articulation(flags.FLAGS.articulation, default_engine=flags.FLAGS.default_engine)
            print(f"articulation: {entry['validation']}, sha256 {entry['sha256'][:12]}")
            return 0
        if flags.FLAGS.landmarks_dir:
            entry = package_landmarks(flags.FLAGS.landmarks_dir, corpus=flags.FLAGS.corpus)
            print(f"landmarks: step {entry['step']}, validation {entry['validation']}, "
                  f"sha256 {entry['sha256'][:12]}")
            return 0
        if not (flags.FLAGS.expert_dir and flags.FLAGS.generator_dir and flags.FLAGS.corpus):
            raise ValueError("give --expert_dir, --generator_dir and --corpus, or --landmarks_dir")
        info = package(flags.FLAGS.expert_dir, flags.FLAGS.generator_dir, flags.FLAGS.corpus)
    except (ValueError, OSError) as err:
        print(f"package_embedded: error: {err}", file=sys.stderr)
        return 1
    for kind, entry in info["files"].items():
        print(f"{kind}: step {entry['step']}, validation {entry['validation']}, sha256 {entry['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("expert_dir", None, "train.py model directory of the expert")
    flags.DEFINE_string("generator_dir", None, "train.py model directory of the generator")
    flags.DEFINE_string("landmarks_dir", None, "train.py model directory of the landmark LSTM "
                        "(packaged alone, beside the others)")
    flags.DEFINE_string("corpus", None, "what the runs were trained on (recorded in model.json)")
    flags.DEFINE_string("articulation", None, "an articulation model .npz (tools/train_articulation.py)")
    flags.DEFINE_enum("generator_tflite", None, ["fp32", "fp16", "int8"],
                      "convert the embedded generator to a .tflite of this mode for --engine tflite")
    flags.DEFINE_enum("default_engine", None, ["keras", "tflite", "savedmodel", "landmarks"],
                      "the engine sync and sticker run without --engine (with --articulation)")
    app.run(main)
