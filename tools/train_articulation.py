"""Fits the articulation model (tflipsync/landmarks/articulation.py) on the real corpus.

    python -m tools.train_articulation [--corpus_dir=../shared/corpus/real] \\
        [--cache_dir=runs/lipmotion_cache] [--inputs=mel] --out=runs/articulation/articulation.npz

Each clip of the corpus's train, val and test split files is measured once (face mesh on every
frame, `tflipsync.evaluation.lipmotion.measure_clip`, cached in --cache_dir and shared with
`evaluate.py --protocol=lipmotion`) and its speech turned into features
(`articulation.features`, cached there too). The ridge penalty is chosen from --alphas by the
median best-lag r (lipmotion.best_lag_r) of the predicted gap with the measured opening
(`faces.mesh.lip_gap`) over the val clips; test clips are only scored. Writes the model and,
beside it, a JSON report of every penalty's figures. With --inputs=mel the model reads the
log-mel columns of the same cached features only (`articulation.mel_columns`: no phones, the
model the web app runs). Nothing of the corpus goes into the model
but its fitted arrays.
"""

import json
import os
import sys
import time

import numpy as np
from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string("corpus_dir", os.path.join(ROOT, "..", "shared", "corpus", "real"), "the real corpus")
flags.DEFINE_string("cache_dir", os.path.join(ROOT, "runs", "lipmotion_cache"), "measurement and feature cache")
flags.DEFINE_string("out", None, "the model .npz to write (a .json report goes beside it)")
flags.DEFINE_list("alphas", ["3000", "10000", "30000", "100000"], "ridge penalties tried")
flags.DEFINE_float("opening_scale", 1.6, "the rendered gap's excursion over the training speakers' median one: "
                   "1.6 was chosen on the val split by the rendered lip-motion protocol (photo mode median r "
                   "1.0: 0.468, 1.6: 0.476, 2.2: 0.423; docs/real_faces.md); it does not change the fit's r")
flags.DEFINE_enum("inputs", "mel+phones", ["mel+phones", "mel"], "the features the model reads: the log-mel and "
                  "the pocketsphinx phone shares, or the log-mel only")
REST_SHARE = 0.1


def clip_data(clip, measurer, cache_dir, decoder):
    """(features (N, F), measured opening (N,), gap and width (N, 2) in normalised units) of a clip."""
    from tflipsync.audio import io as audio_io
    from tflipsync.evaluation import lipmotion
    from tflipsync.landmarks import articulation

    measured = lipmotion.measure_clip(clip, measurer, cache_dir)
    count = len(measured["opening"])
    path = lipmotion.cache_path(clip, cache_dir)[:-4] + ".articulation.npy"
    if os.path.isfile(path):
        rows = np.load(path, allow_pickle=False)
    else:
        rows = articulation.features(audio_io.load_wav(clip), measured["fps"], count, decoder)
        np.save(path, rows)
    if FLAGS.inputs == "mel":
        rows = articulation.mel_columns(rows)
    gap, width = articulation.mouth_measures(measured["points"])
    return {"features": rows, "opening": measured["opening"], "points": measured["points"].astype(np.float64),
            "measures": np.stack([gap, width], axis=1), "wav": clip, "fps": measured["fps"]}


def rest_and_scale(data):
    """Per clip: rest measures (2,), their spread (2,), rest points (K, 2), from the quietest frames."""
    from tflipsync.audio import frames, io as audio_io
    from tflipsync.landmarks.mouth import rest_mouth

    loud = frames.log_rms(audio_io.load_wav(data["wav"]), data["fps"], len(data["opening"]))
    valid = np.all(np.isfinite(data["measures"]), axis=1)
    rest = rest_mouth(data["measures"], valid, loud, REST_SHARE).astype(np.float64)
    spread = np.maximum(data["measures"][valid].std(axis=0), 1e-6)
    return rest, spread, rest_mouth(data["points"], valid, loud, REST_SHARE).astype(np.float64), valid


def main(argv):
    del argv
    sys.path.insert(0, ROOT)
    from tflipsync.audio import phones
    from tflipsync.evaluation import lipmotion, lipmotion_protocol
    from tflipsync.landmarks import articulation

    started = time.perf_counter()
    decoder = phones.PhoneDecoder()
    measurer = lipmotion_protocol._LazyMeasurer()
    splits = {}
    for split in ("train", "val", "test"):
        clips = lipmotion_protocol.read_filelist(os.path.join(FLAGS.corpus_dir, f"{split}.txt"), FLAGS.corpus_dir)
        splits[split] = [clip_data(c, measurer, FLAGS.cache_dir, decoder) for c in clips]
        print(f"{split}: {len(clips)} clips measured ({time.perf_counter() - started:.0f} s)", flush=True)
    xs, ys, motions, deltas, rests, spreads = [], [], [], [], [], []
    for data in splits["train"]:
        rest, spread, rest_points, valid = rest_and_scale(data)
        xs.append(data["features"][valid])
        ys.append((data["measures"][valid] - rest) / spread)
        motions.append((data["points"][valid] - rest_points).reshape(valid.sum(), -1))
        deltas.append(data["measures"][valid] - rest)
        rests.append(rest_points)
        spreads.append(spread)
    x, y = np.concatenate(xs), np.concatenate(ys)
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    z = (x - mean) / std
    modes, *_ = np.linalg.lstsq(np.concatenate(deltas), np.concatenate(motions), rcond=None)  # (2, K*2)
    amplitude = np.median(np.stack(spreads), axis=0) * [FLAGS.opening_scale, 1.0]
    report = {"train_frames": int(len(y)), "alphas": {}}
    best = None
    for alpha in (float(a) for a in FLAGS.alphas):
        weights, bias = articulation.ridge(z, y, alpha)
        fitted = z @ weights + bias
        gain = y.std(axis=0) / np.maximum(fitted.std(axis=0), 1e-9)
        model = articulation.ArticulationModel(mean, std, weights, bias, gain, amplitude, modes,
                                               np.mean(rests, axis=0))
        figures = {}
        for split in ("val", "test"):
            rs = [lipmotion.best_lag_r(model.excursions(d["features"])[:, 0], d["opening"])[0] for d in splits[split]]
            figures[split] = {"median_r": float(np.nanmedian(rs)), "r": [float(r) for r in rs]}
        report["alphas"][str(alpha)] = figures
        print(f"alpha {alpha:g}: val median r {figures['val']['median_r']:.3f}, "
              f"test {figures['test']['median_r']:.3f}", flush=True)
        if best is None or figures["val"]["median_r"] > best[0]:
            best = (figures["val"]["median_r"], alpha, model, figures)
    _, alpha, model, figures = best
    model.info = {"trained_on": "the real corpus's train split (../shared/corpus/real/train.txt: "
                                f"{len(splits['train'])} clips, {len(y)} frames with a face; research material, "
                                "not shipped)",
                  "alpha": alpha, "val_median_r": figures["val"]["median_r"],
                  "test_median_r": figures["test"]["median_r"], "inputs": FLAGS.inputs,
                  "opening_scale": FLAGS.opening_scale}
    if FLAGS.inputs == "mel+phones":
        model.info["phones"] = "pocketsphinx en-us allphone"
    report.update(chosen_alpha=alpha, seconds=time.perf_counter() - started)
    from tflipsync import files

    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with files.atomic_path(FLAGS.out) as temporary:
        with open(temporary, "wb") as f:
            model.save(f)
    files.write_bytes(os.path.splitext(FLAGS.out)[0] + ".json", json.dumps(report, indent=1))
    print(f"wrote {FLAGS.out} (alpha {alpha:g}); predicted-gap r, val {figures['val']['median_r']:.3f}, "
          f"test {figures['test']['median_r']:.3f}")
    measurer.close()


if __name__ == "__main__":
    flags.mark_flag_as_required("out")
    app.run(main)
