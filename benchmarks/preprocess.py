"""Corpus preparation speed: `tflipsync preprocess` on Beam's DirectRunner against the local path.

On the same synthetic clips, in one run: today's local path with `--workers N` (a spawn Pool of N
processes) and `--runner direct --workers N` (the DirectRunner in its multi-process mode with N SDK
worker processes), each timed end to end from the call to the last record and the report, worker
start-up included, with when the first and the last record appeared (start-up, then the clips, then
the end: the report, and the workers' exit). The records of both must be byte-identical. Prints
clips/s and seconds of video per second for each, the ratio (Beam over local) and the per-clip cost
in CPU-seconds per second of video, the figure docs/scale.md's estimate for LRS2 starts from.

    python benchmarks/preprocess.py [--clips 20] [--workers 2] [--rounds 2] [--json out.json]

With --rounds 2 or more the paths alternate which goes first (local, Beam, Beam, local, ...), so a
neighbour's load on a shared machine falls on both; the figures are over all rounds.
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


def timed(run, out_dir):
    """(wall seconds, CPU seconds of this process and its finished children, seconds from the start
    to the first and to the last record written) of run(), which writes records under out_dir."""
    before, started, wall_started = os.times(), time.perf_counter(), time.time()
    run()
    after = os.times()
    cpu = sum(getattr(after, k) - getattr(before, k) for k in ("user", "system", "children_user", "children_system"))
    stamps = sorted(os.path.getmtime(os.path.join(r, n)) - wall_started for r, _, names in os.walk(out_dir)
                    for n in names if n.endswith(".tfrecord"))
    return time.perf_counter() - started, cpu, stamps[0], stamps[-1]


def _records(folder):
    """{relative name: bytes} of the records under folder."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".tfrecord"):
                with open(os.path.join(root, name), "rb") as f:
                    out[os.path.relpath(os.path.join(root, name), folder)] = f.read()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min_seconds", type=float, default=1.5)
    parser.add_argument("--max_seconds", type=float, default=2.5)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each path, alternating which goes first")
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
        paths = {"local": lambda out: preprocess.preprocess(videos, out, args.workers, progress=False),
                 "beam_direct": lambda out: beam_preprocess.preprocess(videos, out, "direct", args.workers)}
        runs = {name: [] for name in paths}
        for round_ in range(args.rounds):  # ABBA: each path goes first in every other round
            for name in (list(paths) if round_ % 2 == 0 else list(paths)[::-1]):
                out = os.path.join(folder, f"{name}{round_}")
                runs[name].append((out, *timed(lambda: paths[name](out), out)))
        reference = _records(runs["local"][0][0])
        identical = all(_records(run[0]) == reference for name in runs for run in runs[name])
    figures = {
        "cpu": cpu_name(), "cores": os.cpu_count(), "clips": len(sources), "workers": args.workers,
        "rounds": args.rounds, "seconds_of_video": round(seconds_of_video, 2), "byte_identical": identical,
        "records_written": len(reference),
    }
    for name, name_runs in runs.items():
        wall, cpu = sum(run[1] for run in name_runs), sum(run[2] for run in name_runs)
        figures[name] = {"seconds": round(wall / args.rounds, 2),
                         "clips_per_s": round(len(sources) * args.rounds / wall, 3),
                         "video_s_per_s": round(seconds_of_video * args.rounds / wall, 3),
                         "cpu_s_per_video_s": round(cpu / (seconds_of_video * args.rounds), 3),
                         "runs_s": [round(run[1], 2) for run in name_runs],
                         "first_record_s": [round(run[3], 2) for run in name_runs],
                         "last_record_s": [round(run[4], 2) for run in name_runs]}
    figures["beam_over_local_throughput"] = round(
        figures["beam_direct"]["clips_per_s"] / figures["local"]["clips_per_s"], 3)
    print(f"CPU: {figures['cpu']} ({figures['cores']} cores); {len(sources)} synthetic clips, "
          f"{seconds_of_video:.1f} s of video, {args.workers} workers")
    for name, label in (("local", f"local --workers {args.workers}"),
                        ("beam_direct", f"Beam DirectRunner, {args.workers} processes")):
        f = figures[name]
        print(f"{label:34s} {f['seconds']:7.1f} s  {f['clips_per_s']:.3f} clips/s  "
              f"{f['video_s_per_s']:.3f} s of video/s  {f['cpu_s_per_video_s']:.2f} CPU-s per s of video  "
              f"(runs {', '.join(f'{x:.1f}' for x in f['runs_s'])} s; first record after "
              f"{', '.join(f'{x:.1f}' for x in f['first_record_s'])} s, last after "
              f"{', '.join(f'{x:.1f}' for x in f['last_record_s'])} s)")
    ratio = figures["beam_over_local_throughput"]
    print(f"Beam / local throughput: {ratio:.3f} (Beam's clips/s is {100 * ratio:.1f}% of the local path's); "
          f"records byte-identical in every run: {figures['byte_identical']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0 if figures["byte_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
