"""Landmark LSTM speed: the streaming .tflite (one mel step in, one mouth frame out) on 1 thread.

The embedded landmark model (or --weights) is converted to its streaming .tflite and timed one
step per call, the way a live stream runs it, with TensorFlow's tf.lite.Interpreter and with
ai-edge-litert's Interpreter, beside the Keras network in the same process: one step per call
(the same step graph as a tf.function) and the whole-sequence model over a clip's worth of steps
(the batch form Predictor uses). Every figure is the median of several timed blocks after
warm-up; each step returns one landmark frame (40 mouth points).

    python benchmarks/landmarks.py [--weights RUN/best/landmarks.weights.h5] [--threads 1]
        [--seconds 2] [--json out.json]

Acceptance (issue 7): >= 500 landmark frames/s on 1 thread with the TFLite model; file <= 1 MB.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
BLOCKS = 5  # timed blocks per engine; the figure is their median (inference.frames_per_second)


def frames_per_second(call, frames, seconds):
    """Median frames/s over BLOCKS timed blocks taking about `seconds` together."""
    from inference import frames_per_second as median_rate

    return median_rate(call, frames, seconds / BLOCKS, BLOCKS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None, help="landmarks .weights.h5 (default: embedded)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per engine")
    parser.add_argument("--sequence_steps", type=int, default=400, help="steps of the sequence run (5 s)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from tflipsync.landmarks import predictor as landmark_predictor
    from tflipsync.deploy import landmarks as landmark_export

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    predictor = landmark_predictor.Predictor(args.weights)
    network = predictor.network
    content = landmark_export.convert(network)
    rng = np.random.default_rng(0)
    column = rng.uniform(-4, 4, size=(1, 80)).astype(np.float32)
    figures = {"model": predictor.description, "threads": args.threads, "tflite_bytes": len(content),
               "units": network.units, "delay": network.delay, "frames_per_s": {}}

    for runtime, name in (("tf", "TFLite (tf.lite.Interpreter), streaming"),
                          ("litert", "TFLite (ai-edge-litert), streaming")):
        stream = landmark_export.Stream(content, network.delay, threads=args.threads, runtime=runtime)
        figures["frames_per_s"][name] = frames_per_second(lambda: stream.step(column[0]), 1, args.seconds)

    module = landmark_export.step_module(network)
    state = tf.zeros((1, 2 * network.units))
    mel = tf.constant(column)

    def keras_step():
        module.step(mel, state)
    figures["frames_per_s"]["Keras/TF step graph (tf.function), streaming"] = frames_per_second(
        keras_step, 1, args.seconds)
    sequence = rng.uniform(-4, 4, size=(args.sequence_steps, 80)).astype(np.float32)
    figures["frames_per_s"][f"Keras sequence model, {args.sequence_steps} steps per call"] = (
        frames_per_second(lambda: predictor.predict_steps(sequence), args.sequence_steps, args.seconds))

    print(f"{predictor.description}; {args.threads} thread(s)")
    print(f"streaming .tflite: {len(content):,} bytes ({len(content) / 2**20:.3f} MiB)")
    for name, rate in figures["frames_per_s"].items():
        print(f"  {name:55s} {rate:12,.0f} landmark frames/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
