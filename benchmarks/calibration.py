"""How int8 quality depends on the calibration draw, with and without dropping outlier samples.

For each seed, 200 real calibration samples are drawn from --filelist (as `tflipsync export
tflite --calibration_seed` draws them), the generator is converted to full int8 on all of them
and on those `quantize.typical_samples` keeps at each --factors value, and the PSNR against Keras
fp32 on 100 held-out samples of --held_out_filelist is printed.

    python benchmarks/calibration.py --data runs/data --filelist runs/videos/filelists/train.txt \\
        --held_out_filelist runs/videos/filelists/test.txt [--seeds 0,1,3,4] [--factors 3,4] [--weights W]
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--filelist", required=True)
    parser.add_argument("--held_out_filelist", required=True)
    parser.add_argument("--seeds", default="0,1,3,4")
    parser.add_argument("--factors", default="3,4")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--weights", help="generator .weights.h5 (default: the embedded model)")
    parser.add_argument("--width", type=float)
    args = parser.parse_args()

    from tflipsync.weights import bundled
    from tflipsync.deploy import tflite
    from tflipsync.deploy.runtime import run_keras, run_tflite
    from tflipsync.deploy.samples import real_samples
    from tflipsync.evaluation import metrics

    model, description = bundled.network("generator", args.weights, args.width)
    held_out = real_samples("generator", args.data, args.held_out_filelist, 100, seed=2)
    reference = run_keras(model, "generator", held_out)
    print(f"{description}\nint8 PSNR dB against Keras fp32 on {len(reference)} held-out samples")
    factors = [None] + [float(f) for f in args.factors.split(",")]
    print(f"{'seed':>4s}  " + "  ".join(f"{'all samples' if f is None else f'past {f:g}x dropped':>22s}"
                                       for f in factors))
    for seed in (int(s) for s in args.seeds.split(",")):
        calibration = real_samples("generator", args.data, args.filelist, args.samples, seed=seed)
        cells = []
        for factor in factors:
            content, info = tflite.convert("generator", model, "int8", calibration=calibration,
                                           outlier_factor=factor, log=lambda line: None)
            quality = metrics.pooled_psnr(run_tflite(content, "generator", held_out)[0], reference)
            cells.append(f"{quality:6.2f} ({info.get('calibration_outliers_dropped', 0):3d} dropped)")
        print(f"{seed:4d}  " + "  ".join(f"{c:>22s}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
