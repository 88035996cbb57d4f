"""TFLite modes against PyTorch fp32: generator frames/s at batch 1 on the same threads.

The issue-6 target: `int8` or `mixed` at least 3x PyTorch fp32 frames/s at batch 1. All engines
run one network (width 1.0 by default; random weights converted from the PyTorch re-statement in
tests/torch_reference.py) in this process, on the same thread count, with the median of several
timed blocks after warm-up; every ratio is against PyTorch measured in this run. `mixed` keeps in
float the layers that the PSNR search chose for the embedded model (the output block and the
transposed convolution opening decoder stage 6; `tflipsync export tflite` report), since a search on random weights measures
nothing. Quality per mode is measured on the trained embedded model by `tflipsync export tflite`
(docs/deployment.md); the PSNR printed here is against Keras fp32 of this random-weight network
on the calibration inputs' held-out part, a check that each file computes the same function.

    python benchmarks/export.py [--threads 2] [--width 1.0] [--data DATA_DIR --filelist LIST]

With --data, int8 and mixed calibrate on 200 real samples of a preprocessed corpus; without it
on 200 random inputs (speed is the same; the printed PSNR is then on random inputs too).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

MIXED_FLOAT_GROUPS = ["output_block", "face_decoder_blocks_6_0"]


def samples(args, count):
    import numpy as np

    if args.data:
        from tflipsync.deploy.samples import real_samples

        real = real_samples("generator", args.data, args.filelist, count)
        return {"mel": real["mel"][:count], "face": real["face"][:count]}, "real samples of " + args.data
    rng = np.random.default_rng(0)
    return ({"mel": rng.normal(size=(count, 80, 16, 1)).astype(np.float32),
             "face": rng.uniform(size=(count, 96, 96, 6)).astype(np.float32)}, "random inputs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one timed block")
    parser.add_argument("--data", help="preprocessed corpus for calibration (tflipsync preprocess)")
    parser.add_argument("--filelist", help="clips of --data to calibrate on")
    parser.add_argument("--modes", default="fp32,fp16,int8,mixed")
    parser.add_argument("--mixed_float", default=",".join(MIXED_FLOAT_GROUPS),
                        help="layer groups or single layers mixed keeps in float")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    import torch
    from inference import frames_per_second, reference_generators

    from tflipsync.deploy import runtime, tflite
    from tflipsync.evaluation import metrics

    torch_model, model = reference_generators(args.width, args.threads)

    data, origin = samples(args, 232)
    calibration = {k: v[:200] for k, v in data.items()}
    held_out = {k: v[200:] for k, v in data.items()}
    reference = runtime.run_keras(model, "generator", held_out)
    mel, face = held_out["mel"][:1], held_out["face"][:1]
    torch_mel = torch.from_numpy(mel.transpose(0, 3, 1, 2).copy())
    torch_face = torch.from_numpy(face.transpose(0, 3, 1, 2).copy())

    def torch_call():
        with torch.inference_mode():
            return torch_model(torch_mel, torch_face)

    baseline = frames_per_second(torch_call, 1, args.seconds)
    print(f"generator width {args.width:g}, batch 1, {args.threads} threads, {os.cpu_count()} CPUs; "
          f"calibration: {origin}")
    print(f"{'engine':44s} {'frames/s':>8s} {'vs PyTorch':>10s} {'size':>8s} {'PSNR vs Keras fp32':>19s}")
    print(f"{'PyTorch fp32 (eager)':44s} {baseline:8.2f} {1.0:9.2f}x")
    for mode in args.modes.split(","):
        content, info = tflite.convert("generator", model, mode, 1, calibration=calibration,
                                       float_groups=args.mixed_float.split(",") if mode == "mixed" else None,
                                       audio_to_mel=False, log=lambda line: None)
        quality = metrics.pooled_psnr(runtime.run_tflite(content, "generator", held_out, args.threads)[0], reference)
        for backend, name in (("tf", "tf.lite.Interpreter"), ("litert", "ai-edge-litert")):
            runner = runtime.interpreter(content, args.threads, backend).get_signature_runner("generate")
            # PyTorch is timed right before and after each engine, so that load from elsewhere on
            # the machine drifts both sides of the ratio alike
            before = frames_per_second(torch_call, 1, args.seconds)
            rate = frames_per_second(lambda: runner(mel=mel, face=face), 1, args.seconds)
            baseline = (before + frames_per_second(torch_call, 1, args.seconds)) / 2
            label = f"TFLite {mode} ({name})" + (" float: " + ",".join(
                g.replace("face_decoder_blocks_", "dec") for g in info["float_groups"]) if mode == "mixed" else "")
            print(f"{label:44s} {rate:8.2f} {rate / baseline:9.2f}x {len(content) / 1e6:6.1f}MB "
                  f"{quality:15.1f} dB   (PyTorch around it: {baseline:.2f} frames/s)", flush=True)
    print(f"TF {tf.__version__}, torch {torch.__version__}; {np.__name__} {np.__version__}")


if __name__ == "__main__":
    main()
