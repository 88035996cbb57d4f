"""Evaluates a generator engine on held-out clips: sync figures (LSE-D / LSE-C style, AV offset,
sync accuracy) and image figures (PSNR, SSIM, temporal consistency), beside the real video.

    python evaluate.py --flagfile=configs/eval_synthetic.flags
    python evaluate.py --flagfile=configs/eval_synthetic.flags --engine=tflite --weights=G.tflite

Prints a table and writes a JSON report (--out_json) and a PNG plot (--out_png); both are written
only when the whole evaluation succeeded. The protocol and the figures are defined in
tflipsync/evaluation.py.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from tflipsync.errors import InputError  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of clip records (tflipsync preprocess --out).")
flags.DEFINE_string("filelist", None, "Held-out filelist of <group>/<id> lines relative to --data_dir.")
flags.DEFINE_integer("max_clips", 0, "Evaluate this many clips of the filelist (0: all), drawn with --seed.",
                     lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of the clip draw when --max_clips is below the filelist's length.")
flags.DEFINE_string("engine", "keras", "Generator engine: a name in tflipsync.inference.engines.ENGINES (keras, tflite, "
                    "savedmodel).")
flags.DEFINE_string("weights", None, "Generator weights for --engine (default: the embedded model).")
flags.DEFINE_float("width", None, "Generator width --weights were made for (default 1.0).")
flags.DEFINE_string("expert_weights", None, "Expert judging sync: a .weights.h5, or an expert .tflite from "
                    "`tflipsync export tflite --model expert` (default: the embedded expert).")
flags.DEFINE_float("expert_width", None, "Width --expert_weights were made for (default 1.0).")
flags.DEFINE_list("audio_shift", ["0", "5", "10"], "Audio shifts in video frames; 0 is the real pair.")
flags.DEFINE_integer("window_offset", -1, "Frame j is driven by the mel window at frame j + this (-1: as "
                     "trained).")
flags.DEFINE_integer("batch_size", 16, "Frames per engine call and windows per expert call.", lower_bound=1)
flags.DEFINE_string("out_json", None, "JSON report to write.")
flags.DEFINE_string("out_png", None, "PNG plot to write.")


def _shifts(values):
    try:
        shifts = [int(v) for v in values]
    except ValueError:
        shifts = []
    if not shifts or len(set(shifts)) != len(shifts):
        raise InputError("--audio_shift", "expected distinct integers separated by commas")
    return shifts


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from tflipsync import evaluation

    try:
        shifts = _shifts(FLAGS.audio_shift)
        paths = evaluation.check_inputs(FLAGS.data_dir, FLAGS.filelist, FLAGS.weights, FLAGS.expert_weights,
                                        (FLAGS.out_json, FLAGS.out_png))
        paths = evaluation.pick_clips(paths, FLAGS.max_clips, FLAGS.seed)
        report = evaluation.evaluate(paths, FLAGS.engine, FLAGS.weights, FLAGS.width, FLAGS.expert_weights,
                                     FLAGS.expert_width, shifts, FLAGS.batch_size, FLAGS.window_offset,
                                     progress=lambda line: print(line, file=sys.stderr, flush=True))
    except InputError as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 1
    report["config"] = {name: FLAGS[name].value for name in (
        "data_dir", "filelist", "max_clips", "seed", "engine", "weights", "width", "expert_weights",
        "expert_width", "window_offset", "batch_size")}
    report["config"]["audio_shift"] = shifts
    print(f"engine {report['engine']}: {report['weights']}; judged by {report['expert']}")
    print(evaluation.format_table(report))
    if report["skipped"]:
        print(f"skipped {len(report['skipped'])} clip-shift pairs too short for the offset search")
    evaluation.write_outputs(report, FLAGS.out_json, FLAGS.out_png)
    print(f"wrote {', '.join(p for p in (FLAGS.out_json, FLAGS.out_png) if p) or 'nothing (no --out_json, --out_png)'}")
    return 0


if __name__ == "__main__":
    app.run(main)
