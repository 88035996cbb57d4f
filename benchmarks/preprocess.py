"""Corpus preparation speed: `tflipsync preprocess` on Beam's DirectRunner against the local path.

On the same synthetic clips, in one run: today's local path with `--workers N` (a spawn Pool of N
processes) and `--runner direct --workers N` (the DirectRunner in its multi-process mode with N SDK
worker processes), each timed end to end from the call to the last record and the report, worker
start-up included. The records of both must be byte-identical. Prints clips/s and seconds of video
per second for each, the ratio (Beam over local) and the per-clip cost in CPU-seconds per second of
video, the figure docs/scale.md's estimate for LRS2 starts from.

    python benchmarks/preprocess.py [--clips 20] [--workers 2] [--json out.json]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tflipsync.corpus import preprocess, synth  # noqa: E402
from tflipsync.media import video  # noqa: E402


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


def timed(run):
    """(wall seconds, CPU seconds of this process and its finished children) of run()."""
    before, started = os.times(), time.perf_counter()
    run()
    after = os.times()
    cpu = sum(getattr(after, k) - getattr(before, k) for k in ("user", "system", "children_user", "children_system"))
    return time.perf_counter() - started, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min_seconds", type=float, default=1.5)
    parser.add_argument("--max_seconds", type=float, default=2.5)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tflipsync.batch import preprocess as beam_preprocess

    with tempfile.TemporaryDirectory(prefix="bench_preprocess_") as folder:
        videos = os.path.join(folder, "videos")
        synth.synthesize(videos, clips=args.clips, seed=3, workers=args.workers, min_seconds=args.min_seconds,
                         max_seconds=args.max_seconds, progress=False)
        sources = [source for source, _ in preprocess.find_videos(videos)]
        seconds_of_video = sum(video.probe(source).frames / video.probe(source).fps for source in sources)
        local_out, beam_out = os.path.join(folder, "local"), os.path.join(folder, "beam")
        local_wall, local_cpu = timed(lambda: preprocess.preprocess(videos, local_out, args.workers, progress=False))
        beam_wall, beam_cpu = timed(lambda: beam_preprocess.preprocess(videos, beam_out, "direct", args.workers))
        names = sorted(os.path.relpath(os.path.join(r, n), local_out) for r, _, ns in os.walk(local_out) for n in ns
                       if n.endswith(".tfrecord"))
        identical = all(open(os.path.join(local_out, n), "rb").read() == open(os.path.join(beam_out, n), "rb").read()
                        for n in names)
        beam_names = sorted(os.path.relpath(os.path.join(r, n), beam_out) for r, _, ns in os.walk(beam_out)
                            for n in ns if n.endswith(".tfrecord"))
    figures = {
        "cpu": cpu_name(), "cores": os.cpu_count(), "clips": len(sources), "workers": args.workers,
        "seconds_of_video": round(seconds_of_video, 2),
        "local": {"seconds": round(local_wall, 2), "clips_per_s": round(len(sources) / local_wall, 3),
                  "video_s_per_s": round(seconds_of_video / local_wall, 3),
                  "cpu_s_per_video_s": round(local_cpu / seconds_of_video, 3)},
        "beam_direct": {"seconds": round(beam_wall, 2), "clips_per_s": round(len(sources) / beam_wall, 3),
                        "video_s_per_s": round(seconds_of_video / beam_wall, 3),
                        "cpu_s_per_video_s": round(beam_cpu / seconds_of_video, 3)},
        "beam_over_local_throughput": round(local_wall / beam_wall, 3),
        "records_written": [len(names), len(beam_names)], "byte_identical": identical and names == beam_names,
    }
    print(f"CPU: {figures['cpu']} ({figures['cores']} cores); {len(sources)} synthetic clips, "
          f"{seconds_of_video:.1f} s of video, {args.workers} workers")
    for name, label in (("local", f"local --workers {args.workers}"),
                        ("beam_direct", f"Beam DirectRunner, {args.workers} processes")):
        f = figures[name]
        print(f"{label:34s} {f['seconds']:7.1f} s  {f['clips_per_s']:.3f} clips/s  "
              f"{f['video_s_per_s']:.3f} s of video/s  {f['cpu_s_per_video_s']:.2f} CPU-s per s of video")
    ratio = figures["beam_over_local_throughput"]
    print(f"Beam / local throughput: {ratio:.3f} (Beam's clips/s is {100 * ratio:.1f}% of the local path's, "
          f"{100 * (1 - ratio):.1f}% lower); records byte-identical: {figures['byte_identical']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0 if figures["byte_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
