"""Lip motion on real speech, per engine: the lip-motion protocol (tflipsync/evaluation/lipmotion.py)
over a split of the real corpus (../shared/corpus/real, default its held-out `test` split).

For each clip (its frames and speaker from the manifest) and each engine, in photo mode (the first
frame lip-synced to the clip's speech) and video mode (the clip reversed, lip-synced to its
speech): r (the output's mouth opening against the real speaker's, best over +-2 frames), the
Procrustes mouth distance, the share of output frames where the mesh finds the face, and the
lower-face sharpness ratio; per clip also the audio baselines every engine must beat (loudness r
and the ridge anchor's r) and the untouched reversed source's r. Then the medians over clips per
engine and mode, the CPU and the wall time.

    python benchmarks/real_lipsync.py [--engines keras,landmarks] [--weights keras=G.weights.h5]
        [--modes photo,video] [--max_clips 3] [--expert_weights embedded] [--out_json runs/real.json]

The first run measures every clip of the train, val and test splits (detection and mesh of
every frame) and fits the ridge anchor; both are cached under --cache_dir for later runs. Where
the corpus is absent it says so and exits with status 2.
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "real")


def parse_weights(text, engines):
    """--weights `engine=path,...` as {engine: path or None} for each of `engines`."""
    weights = {engine: None for engine in engines}
    for item in filter(None, (text or "").split(",")):
        engine, _, path = item.partition("=")
        if engine not in weights or not path:
            raise SystemExit(f"real_lipsync.py: error: --weights: {item!r} is not ENGINE=PATH for one of "
                             f"{', '.join(engines)}")
        weights[engine] = path
    return weights


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus_dir", default=CORPUS)
    parser.add_argument("--filelist", default=None, help="a split file (default: <corpus_dir>/test.txt)")
    parser.add_argument("--engines", default="keras,landmarks")
    parser.add_argument("--weights", default=None, help="ENGINE=PATH,... (default: the embedded models)")
    parser.add_argument("--modes", default="photo,video")
    parser.add_argument("--max_clips", type=int, default=0, help="the first N clips of the filelist (0: all)")
    parser.add_argument("--cache_dir", default=os.path.join(ROOT, "runs", "lipmotion_cache"))
    parser.add_argument("--anchor_filelists", default="train.txt,val.txt",
                        help="the ridge anchor's train,val filelists relative to --corpus_dir ('' for none)")
    parser.add_argument("--expert_weights", default=None, help="LSE-D / LSE-C with this expert ('embedded': "
                        "the embedded one; default: none)")
    parser.add_argument("--out_json", default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from tflipsync import files, native_logs
    from tflipsync.errors import InputError
    from tflipsync.evaluation import lipmotion_command, lipmotion_protocol
    from faces import cpu_name  # benchmarks/faces.py

    if not os.path.isfile(os.path.join(args.corpus_dir, "manifest.tsv")):
        print(f"real_lipsync.py: the real corpus is not at {args.corpus_dir} (it ships with this workplace "
              "only); give --corpus_dir", file=sys.stderr)
        return 2
    engines = parse_weights(args.weights, [e for e in args.engines.split(",") if e])
    anchor_lists = tuple(filter(None, args.anchor_filelists.split(","))) or None
    started = time.perf_counter()
    with native_logs.filtered_stderr():
        try:
            clips = lipmotion_command.check_inputs(args.corpus_dir, args.filelist, engines, args.expert_weights,
                                                   args.out_json, anchor_lists)
            clips = clips[:args.max_clips] if args.max_clips else clips
            report = lipmotion_protocol.evaluate(
                clips, engines, tuple(m for m in args.modes.split(",") if m), args.corpus_dir, args.cache_dir,
                args.expert_weights, anchor_lists, progress=lambda line: print(line, file=sys.stderr, flush=True))
        except InputError as err:
            print(f"real_lipsync.py: error: {err}", file=sys.stderr)
            return 1
    wall = time.perf_counter() - started
    seconds = [row["seconds"] for row in report["clips"]]
    frames = sum(row["frames"] for row in report["clips"])
    report["cpu"], report["wall_seconds"] = cpu_name(), wall
    print(f"corpus {args.corpus_dir}, filelist {args.filelist or 'test.txt'}: {len(clips)} clips, {frames} frames")
    print("engines: " + ", ".join(f"{e} ({w or 'embedded'})" for e, w in engines.items()))
    print(lipmotion_command.format_table(report))
    print(f"time per clip (all engines and modes): median {statistics.median(seconds):.1f} s, "
          f"{sum(seconds) / max(frames, 1) * 1000:.0f} ms per real frame")
    print(f"CPU: {report['cpu']}; wall time {wall:.0f} s (including measuring uncached real clips and fitting "
          "the ridge anchor)")
    if args.out_json:
        files.write_bytes(args.out_json, lipmotion_command.to_json(report))
        print(f"wrote {args.out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
