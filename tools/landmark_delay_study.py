"""Is a time-delayed LSTM as good as a bidirectional one? The table of docs/landmarks.md.

    python -m tools.landmark_delay_study --data_dir=DATA --train_list=TRAIN --val_list=VAL \\
        --test_list=TEST --out_dir=RUNS/landmark_table [--delays=0,4,8,16,24] [--max_steps=3000]

Trains (with train.py and configs/landmarks.flags, one run after another, each resumed or
skipped when already finished) a unidirectional LSTM at every delay of --delays and a
bidirectional LSTM of about the same parameter count (--bidirectional_units per direction), then
measures each run's best-by-validation weights on the held-out clips of --test_list:

- error: mean distance of the 40 mouth points over the mouth width (outer corners), at every
  video frame with a face, in the normalised frame; the prediction is the clip's own rest mouth
  plus the predicted motion (`tflipsync.landmarks`), so all models, and the "no motion" row (the
  rest mouth held still), share the one per-clip calibration;
- parameters (trainable), look-ahead (delay x 12.5 ms, or the whole utterance), and speed: mel
  steps per second of the Keras network over whole clips and, for the unidirectional ones, of the
  streaming .tflite on 1 thread (tf.lite.Interpreter), one step per call.

Writes OUT_DIR/table.json and OUT_DIR/table.md.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def variants(delays, bidirectional_units, units):
    """(name, extra train.py flags) of every run of the table."""
    out = [(f"delay{d}", [f"--delay={d}", f"--units={units}", "--bidirectional=False"]) for d in delays]
    out += [(f"bidirectional{u}", ["--delay=0", f"--units={u}", "--bidirectional=True"])
            for u in bidirectional_units]
    return out


def train(name, extra, f, log=print):
    """Runs train.py for one variant (a finished run returns at once); returns its model dir."""
    model_dir = os.path.join(f.out_dir, name)
    command = [sys.executable, os.path.join(ROOT, "train.py"), "--flagfile=configs/landmarks.flags",
               f"--data_dir={f.data_dir}", f"--train_list={f.train_list}", f"--val_list={f.val_list}",
               f"--model_dir={model_dir}", f"--max_steps={f.max_steps}", f"--seed={f.seed}",
               "--noprogress", *extra]
    log(f"{name}: training ({' '.join(extra)})")
    started = time.perf_counter()
    with open(os.path.join(f.out_dir, f"{name}.log"), "a") as out:
        result = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode:
        raise RuntimeError(f"{name}: train.py failed (see {f.out_dir}/{name}.log)")
    log(f"{name}: trained in {time.perf_counter() - started:.0f} s")
    return model_dir


def clip_errors(predictor, path):
    """(model error, no-motion error, frames) of one held-out clip, summed over its frames."""
    from tflipsync.landmarks import mouth as mouth_points
    from tflipsync.data import landmarks as landmark_data
    from tflipsync.data import records

    clip = records.read_clip(path)
    steps = landmark_data.clip_arrays(path)
    truth, _ = mouth_points.normalise(clip["landmarks"])
    present = clip["present"] & np.all(np.isfinite(truth), axis=(1, 2))
    rest = steps["rest"]
    motion = mouth_points.steps_to_frames(predictor.predict_steps(steps["mel"]), clip["fps"],
                                       len(truth)) - predictor.mean_shape
    model = mouth_points.landmark_error(rest + motion, truth)[present]
    still = mouth_points.landmark_error(rest[None], truth)[present]
    return float(model.sum()), float(still.sum()), int(present.sum())


def clip_opening_r(predictor, path):
    """Best-lag r (lipmotion.best_lag_r) of the predicted inner-lip gap with the clip's measured
    opening (faces.mesh.lip_gap), the lip-motion evaluation's figure before any rendering."""
    from tflipsync.data import landmarks as landmark_data, records
    from tflipsync.evaluation.lipmotion import best_lag_r
    from tflipsync.faces import mesh as face_mesh
    from tflipsync.landmarks import articulation, mouth as mouth_points

    clip = records.read_clip(path)
    opening = np.where(clip["present"], face_mesh.lip_gap(clip["landmarks"]), np.nan)
    steps = landmark_data.clip_arrays(path)
    points = mouth_points.steps_to_frames(predictor.predict_steps(steps["mel"]), clip["fps"], len(opening))
    return best_lag_r(articulation.mouth_measures(points)[0], opening)[0]


def keras_speed(predictor, mel, blocks=7):
    """Mel steps per second of the Keras network over a whole clip: the median of `blocks`
    timed calls after a warm-up call (the median, because the machine is shared)."""
    import statistics

    predictor.predict_steps(mel)
    rates = []
    for _ in range(blocks):
        started = time.perf_counter()
        predictor.predict_steps(mel)
        rates.append(len(mel) / (time.perf_counter() - started))
    return statistics.median(rates)


def tflite_speed(network, steps=2000, blocks=5):
    """(steps per second of the streaming .tflite on 1 thread, the median of `blocks` timed runs
    of `steps` calls, file bytes)."""
    import statistics

    from tflipsync.deploy import landmarks as landmark_export

    content = landmark_export.convert(network)
    runner = landmark_export.Stream(content, network.delay, threads=1)
    column = np.zeros(80, np.float32)
    for _ in range(100):
        runner.step(column)
    rates = []
    for _ in range(blocks):
        started = time.perf_counter()
        for _ in range(steps):
            runner.step(column)
        rates.append(steps / (time.perf_counter() - started))
    return statistics.median(rates), len(content)


def measure(name, model_dir, test_files):
    """The table row of one trained run."""
    from tflipsync.landmarks import predictor as landmark_predictor
    from tflipsync.data import landmarks as landmark_data

    predictor = landmark_predictor.Predictor(os.path.join(model_dir, "best", "landmarks.weights.h5"))
    network = predictor.network
    totals = np.zeros(3)
    for path in test_files:
        totals += clip_errors(predictor, path)
    opening_r = [clip_opening_r(predictor, path) for path in test_files]
    mel = landmark_data.clip_arrays(test_files[0])["mel"]
    parameters = int(sum(np.prod(v.shape) for v in network.trainable_weights))
    row = {"name": name, "bidirectional": network.bidirectional, "units": network.units,
           "delay": network.delay, "parameters": parameters,
           "error": totals[0] / totals[2], "no_motion_error": totals[1] / totals[2],
           "frames": int(totals[2]), "keras_steps_per_s": keras_speed(predictor, mel),
           "opening_r": float(np.nanmedian(opening_r))}
    with open(os.path.join(model_dir, "flags.txt")) as f:
        row["max_steps"] = next(int(line.split("=")[1]) for line in f
                                if line.startswith("--max_steps="))
    from tflipsync.training.curves import read_scalars
    row["best_step"], row["validation_loss"] = min(
        read_scalars(os.path.join(model_dir, "validation"))["loss"], key=lambda point: point[1])
    if not network.bidirectional:
        row["tflite_steps_per_s"], row["tflite_bytes"] = tflite_speed(network)
    return row


def markdown(rows, test_list):
    lines = [f"Held-out clips: `{test_list}`; error = mean mouth-point distance / mouth width, "
             "per video frame with a face.", "",
             "| model | look-ahead | parameters | test error | no-motion error | error / no-motion "
             "| val loss (best step) | opening r (median) | Keras steps/s | TFLite steps/s (1 thread) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["bidirectional"]:
            kind, ahead = f"bidirectional LSTM, {r['units']} units per direction", "whole utterance"
        else:
            kind, ahead = f"LSTM {r['units']} units, delay d = {r['delay']}", f"{r['delay'] * 12.5:g} ms"
        tflite = (f"{r['tflite_steps_per_s']:,.0f}" if "tflite_steps_per_s" in r
                  else "(needs the whole sequence)")
        lines.append(f"| {kind} | {ahead} | {r['parameters']:,} | {r['error']:.4f} | "
                     f"{r['no_motion_error']:.4f} | {r['error'] / r['no_motion_error']:.3f} | "
                     f"{r['validation_loss']:.4f} ({r['best_step']}) | {r.get('opening_r', float('nan')):.3f} | "
                     f"{r['keras_steps_per_s']:,.0f} | {tflite} |")
    return "\n".join(lines) + "\n"


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    for name, help_text in (("data_dir", "preprocessed corpus"), ("train_list", "training filelist"),
                            ("val_list", "validation filelist (early stopping)"),
                            ("test_list", "held-out filelist measured"), ("out_dir", "runs and the table")):
        flags.DEFINE_string(name, None, help_text, **fv)
    flags.DEFINE_list("delays", ["0", "4", "8", "16", "24"], "delays (steps of 12.5 ms) of the "
                      "unidirectional LSTMs", **fv)
    flags.DEFINE_integer("units", 60, "units of the unidirectional LSTMs", **fv)
    flags.DEFINE_list("bidirectional_units", ["36"], "units per direction of the bidirectional "
                      "baselines (36: about the parameters of 60 unidirectional)", **fv)
    flags.DEFINE_integer("max_steps", 3000, "training steps of every run", **fv)
    flags.DEFINE_integer("seed", 0, "seed of every run", **fv)
    flags.DEFINE_boolean("train", True, "train missing runs (else only measure existing ones)", **fv)


def run(f):
    from tflipsync.data import records

    for name in ("data_dir", "train_list", "val_list", "test_list", "out_dir"):
        if not f[name].value:
            raise ValueError(f"--{name} is required")
    os.makedirs(f.out_dir, exist_ok=True)
    test_files = records.list_clips(f.data_dir, f.test_list)
    table = os.path.join(f.out_dir, "table.json")
    # rows of earlier invocations stay (the table can be built in parts); a run measured again
    # replaces its row
    rows = {}
    if os.path.isfile(table):
        with open(table) as saved:
            rows = {row["name"]: row for row in json.load(saved)}
    for name, extra in variants([int(d) for d in f.delays], [int(u) for u in f.bidirectional_units],
                                f.units):
        model_dir = train(name, extra, f) if f.train else os.path.join(f.out_dir, name)
        rows[name] = measure(name, model_dir, test_files)
        print(json.dumps(rows[name]), flush=True)
        ordered = sorted(rows.values(), key=lambda r: (r["bidirectional"], r["delay"], r["units"]))
        with open(table, "w") as out:
            json.dump(ordered, out, indent=2)
        with open(os.path.join(f.out_dir, "table.md"), "w") as out:
            out.write(markdown(ordered, f.test_list))
    print(markdown(ordered, f.test_list))
    return 0


def main(argv):
    from absl import flags

    del argv
    return run(flags.FLAGS)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import app, flags

    define_flags(flags.FLAGS)
    app.run(main)
