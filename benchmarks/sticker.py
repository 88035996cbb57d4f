"""End-to-end `tflipsync sticker` speed per engine and preset: frames/s and seconds per stage.

The input is the bundled photo (examples/astronaut.jpg, 512x512) and speech (examples/speech.wav,
6 s; cut to each preset's limit with --trim, as a user would). Each run is its own process, on
the threads the machine has. "frames/s" is lip-synced frames over the library's own elapsed time
(prepare: model load, detection, face mesh, prediction; render; the sticker's encoding), as
`tflipsync sync` reports it; "wall" adds the process start and imports. "cpu" is the CPU time
of the same span, all threads: on a machine shared with other work, frames/s falls with the load
but cpu barely moves, and on two idle cores the elapsed time lies between cpu / 2 and cpu. Stage
seconds are each stage's own busy time (the stages overlap).

    python benchmarks/sticker.py [--engines landmarks,keras] [--presets telegram,whatsapp,gif,mp4]
        [--repeat 3] [--landmark_weights FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACE = os.path.join(ROOT, "examples", "astronaut.jpg")
SPEECH = os.path.join(ROOT, "examples", "speech.wav")
EXTENSIONS = {"telegram": ".webm", "whatsapp": ".webp", "gif": ".gif", "mp4": ".mp4"}


def child(args):
    """Runs one sticker in this process and prints its summary as JSON."""
    from tflipsync.inference import sticker, sync

    weights = args.landmark_weights if args.engine == "landmarks" else None
    options = sync.Options(face=FACE, audio=SPEECH, out=args.out, engine=args.engine, weights=weights,
                           progress=False)
    cpu = time.process_time()
    summary = sticker.run_sticker(options, args.preset, trim=True)
    summary["cpu"] = time.process_time() - cpu
    print(json.dumps({k: v for k, v in summary.items() if k != "weights"}, default=str))


def run_child(engine, preset, out, landmark_weights=None):
    command = [sys.executable, os.path.abspath(__file__), "--child", "--engine", engine, "--preset", preset,
               "--out", out] + (["--landmark_weights", landmark_weights] if landmark_weights else [])
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"sticker failed: {result.stderr[-2000:]}")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    summary["wall"] = time.perf_counter() - started
    os.remove(out)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="landmarks,keras")
    parser.add_argument("--presets", default=",".join(EXTENSIONS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the median is printed")
    parser.add_argument("--landmark_weights", help="a landmark model file (default: the embedded model)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.child:
        return child(args)
    print(f"input: {os.path.basename(FACE)} (512x512 photo) + {os.path.basename(SPEECH)}, {os.cpu_count()} CPUs, "
          f"median of {args.repeat}")
    stage_names = ("detect", "mesh", "predict", "generate", "paste", "warp", "encode")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'engine':10s} {'preset':9s} {'frames':>6s} {'frames/s':>8s} {'cpu s':>6s} {'wall s':>6s}  "
          + " ".join(f"{name:>8s}" for name in stage_names))
    with tempfile.TemporaryDirectory() as folder:
        for engine in args.engines.split(","):
            for preset in args.presets.split(","):
                runs = [run_child(engine, preset, os.path.join(folder, f"s{EXTENSIONS[preset]}"), args.landmark_weights)
                        for _ in range(args.repeat)]
                rates = [r["frames"] / r["elapsed"] for r in runs]
                middle = runs[rates.index(statistics.median_low(rates))]
                stages = middle["stages"]
                print(f"{engine:10s} {preset:9s} {middle['frames']:6d} {statistics.median(rates):8.1f} "
                      f"{statistics.median(r['cpu'] for r in runs):6.2f} "
                      f"{statistics.median(r['wall'] for r in runs):6.1f}  "
                      + " ".join(f"{stages.get(name, 0.0):8.2f}" for name in stage_names), flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
