"""What an exported .tflite costs and loses: size, frames/s per runtime and thread count, PSNR and
SSIM against Keras fp32, and the expert's sync confidence on its outputs (the quality figures
only where held-out samples are given)."""

import json
import os
import statistics
import time

import numpy as np

from tflipsync.deploy.runtime import interpreter, run_keras, run_tflite, signature_batch
from tflipsync.deploy.signatures import SIGNATURE, input_shapes
from tflipsync.evaluation import metrics


def frames_per_second(content, kind, threads, runtime, seconds=2.0, blocks=3):
    """Median frames/s of the main signature (random inputs, batch as exported) over `blocks`
    timed blocks of about `seconds`, after two warm-up calls."""
    runner = interpreter(content, threads, runtime).get_signature_runner(SIGNATURE[kind])
    shapes = input_shapes(kind, signature_batch(runner))
    rng = np.random.default_rng(0)
    inputs = {name: rng.uniform(0, 1, shape).astype(np.float32) for name, shape in shapes.items()}
    for _ in range(2):
        runner(**inputs)
    started = time.perf_counter()
    runner(**inputs)
    calls = max(1, int(seconds / max(time.perf_counter() - started, 1e-4)))
    rates = []
    for _ in range(blocks):
        started = time.perf_counter()
        for _ in range(calls):
            runner(**inputs)
        rates.append(shapes["mel"][0] * calls / (time.perf_counter() - started))
    return statistics.median(rates)


def sync_confidence(expert, images, sync_mel):
    """Mean in-sync probability the expert gives 5-frame windows of generated `images`
    ((W*5, 96, 96, 3), consecutive frames) against their `sync_mel` (W, 80, 16, 1)."""
    import tensorflow as tf

    from tflipsync.models.expert import sync_probability
    from tflipsync.training import losses

    windows = tf.constant(images.reshape(-1, 5, *images.shape[1:]), tf.float32)  # (W, 5, 96, 96, 3)
    audio_embedding, face_embedding = expert([tf.constant(sync_mel, tf.float32), losses.lower_half_stack(windows)],
                                             training=False)
    return float(np.mean(np.asarray(sync_probability(audio_embedding, face_embedding))))


def measure(content, kind, model, held_out, expert=None, threads=(1, 2), runtimes=("tf", "litert"),
            seconds=2.0):
    """Report dict of one .tflite: size, speed and (with `held_out` real samples, else None) its
    outputs against the Keras `model`'s."""
    row = {"bytes": len(content), "frames_per_s": {}}
    for runtime in runtimes:
        for count in threads:
            name = {"tf": "tf.lite.Interpreter", "litert": "ai-edge-litert"}[runtime]
            row["frames_per_s"][f"{name}, {count} thread{'s' if count > 1 else ''}"] = round(
                frames_per_second(content, kind, count, runtime, seconds), 2)
    if held_out is None:
        return row
    outputs = run_tflite(content, kind, held_out)
    reference = run_keras(model, kind, held_out)
    if kind == "generator":
        row["psnr_db"] = round(metrics.pooled_psnr(outputs[0], reference), 2)
        row["ssim"] = round(metrics.ssim(outputs[0], reference), 4)
        if expert is not None and "sync_mel" in held_out:
            row["sync_confidence"] = round(sync_confidence(expert, outputs[0], held_out["sync_mel"]), 4)
            row["sync_confidence_keras_fp32"] = round(sync_confidence(expert, reference, held_out["sync_mel"]), 4)
    else:
        cosine = lambda a, b: np.sum(a * b, axis=-1)  # noqa: E731 (embeddings are L2-normalised)
        row["sync_probability_max_abs_diff"] = round(float(np.max(np.abs(
            cosine(*outputs) - cosine(*reference)))), 5)
        if "label" in held_out:
            agree = (cosine(*outputs) > 0.5) == (cosine(*reference) > 0.5)
            row["decisions_agreeing_with_keras"] = round(float(np.mean(agree)), 4)
    return row


def write_reports(rows, base):
    """Writes `base`.json and `base`.md (a table), each atomically."""
    from tflipsync import files

    with files.atomic_output(base + ".json", "w") as f:
        json.dump(rows, f, indent=2)
        f.write("\n")
    speed_keys = sorted({k for r in rows for k in r.get("frames_per_s", {})})
    head = ["file", "mode", "MB"] + [f"frames/s ({k})" for k in speed_keys] + ["PSNR dB", "SSIM", "sync conf.",
                                                                                "float layers"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [os.path.basename(r.get("file", "")), r.get("mode", ""), f"{r['bytes'] / 1e6:.2f}"]
        cells += [f"{r['frames_per_s'].get(k, float('nan')):.1f}" for k in speed_keys]
        cells += [str(r.get("psnr_db", "")), str(r.get("ssim", "")),
                  f"{r.get('sync_confidence', '')} (fp32 Keras {r.get('sync_confidence_keras_fp32', '')})"
                  if "sync_confidence" in r else "", ", ".join(r.get("float_groups", []))]
        lines.append("| " + " | ".join(cells) + " |")
    with files.atomic_output(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
