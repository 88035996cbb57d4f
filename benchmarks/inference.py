"""Generator inference speed: PyTorch fp32 (the test re-statement) against Keras and TFLite fp32.

All engines run the same weights (random, converted from the PyTorch model) on the same inputs,
in one process, with the same thread count; each figure is the median of several timed blocks
after warm-up, and every ratio is against PyTorch measured in this run.

    python benchmarks/inference.py [--threads 2] [--batches 1,32] [--seconds 3] [--json out.json]
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))


def frames_per_second(call, batch, seconds, blocks=5):
    """Median frames/s over `blocks` timed blocks of about `seconds` each, after warm-up."""
    for _ in range(2):
        call()
    started = time.perf_counter()
    call()
    per_call = max(time.perf_counter() - started, 1e-6)
    calls = max(1, int(seconds / per_call))
    rates = []
    for _ in range(blocks):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        rates.append(batch * calls / (time.perf_counter() - started))
    return statistics.median(rates)


def reference_generators(width, threads):
    """(PyTorch re-statement, Keras generator) with the same random weights, both frameworks set
    to `threads` threads: the pair every generator speed comparison starts from."""
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    torch.set_num_threads(threads)

    import torch_reference

    from tflipsync.weights.convert import load_state_dict
    from tflipsync.models import build_generator

    torch_model = torch_reference.randomize(torch_reference.build("generator", width), seed=0)
    model = build_generator(width)
    load_state_dict(model, {k: v.numpy() for k, v in torch_model.state_dict().items()})
    return torch_model, model


def tflite_generator(model, batch):
    """Converts the generator at a fixed batch size to an fp32 .tflite with builtin ops only.

    The model is re-wrapped with fixed-batch inputs so that the transposed convolutions get static
    output shapes; `from_keras_model` freezes the Keras 3 variables and folds batch norm (a
    hand-written tf.function over the model keeps them as resource variables, which TFLite leaves
    uninitialised).
    """
    import keras
    import tensorflow as tf

    mel = keras.Input((80, 16, 1), batch_size=batch, name="mel")
    face = keras.Input((96, 96, 6), batch_size=batch, name="face")
    fixed = keras.Model([mel, face], model([mel, face]))
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def interpreter_call(interpreter_class, content, threads, mel, face):
    interpreter = interpreter_class(model_content=content, num_threads=threads)
    runner = interpreter.get_signature_runner()
    return lambda: next(iter(runner(mel=mel, face=face).values()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one timed block")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    import torch
    from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter

    torch_model, model = reference_generators(args.width, args.threads)

    results = []
    for batch in [int(b) for b in args.batches.split(",")]:
        rng = np.random.default_rng(batch)
        mel = rng.normal(size=(batch, 80, 16, 1)).astype(np.float32)
        face = rng.uniform(size=(batch, 96, 96, 6)).astype(np.float32)
        torch_mel = torch.from_numpy(mel.transpose(0, 3, 1, 2).copy())
        torch_face = torch.from_numpy(face.transpose(0, 3, 1, 2).copy())
        tf_mel, tf_face = tf.constant(mel), tf.constant(face)
        keras_fn = tf.function(lambda m, f: model([m, f], training=False))
        xla_fn = tf.function(lambda m, f: model([m, f], training=False), jit_compile=True)
        content = tflite_generator(model, batch)

        def torch_call():
            with torch.inference_mode():
                return torch_model(torch_mel, torch_face)

        engines = [
            ("PyTorch fp32 (eager)", torch_call),
            ("Keras fp32 (tf.function)", lambda: keras_fn(tf_mel, tf_face)),
            ("Keras fp32 (tf.function, XLA)", lambda: xla_fn(tf_mel, tf_face)),
            ("TFLite fp32 (tf.lite.Interpreter)",
             interpreter_call(tf.lite.Interpreter, content, args.threads, mel, face)),
            ("TFLite fp32 (ai-edge-litert)",
             interpreter_call(LiteRTInterpreter, content, args.threads, mel, face)),
        ]
        reference = torch_call().numpy().transpose(0, 2, 3, 1)
        baseline = None
        for name, call in engines:
            output = np.asarray(call())
            output = output.transpose(0, 2, 3, 1) if output.shape[1] == 3 else output
            error = float(np.abs(output - reference).max())
            rate = frames_per_second(call, batch, args.seconds)
            baseline = baseline or rate
            row = {"batch": batch, "engine": name, "frames_per_s": rate,
                   "vs_pytorch": rate / baseline, "max_abs_diff_vs_pytorch": error,
                   "tflite_bytes": len(content) if "TFLite" in name else None}
            results.append(row)
            print(f"batch {batch:3d}  {name:36s} {rate:7.2f} frames/s  {rate / baseline:5.2f}x PyTorch"
                  f"  (max |diff| {error:.1e})", flush=True)

    print(f"\ngenerator width {args.width:g}, {args.threads} threads, {os.cpu_count()} CPUs, "
          f"TF {tf.__version__}, torch {torch.__version__}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "width": args.width, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
