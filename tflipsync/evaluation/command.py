"""evaluate.py's flags and run: the protocol over held-out clips, then the table and the files.

`define_flags(flag_values)` and `run(flag_values)`, the shape of the tflipsync sub-commands; no
TensorFlow is imported before the inputs are checked.
"""

import sys

from absl import flags

from tflipsync.errors import InputError

# the flags whose values the JSON report records under "config"
RECORDED = ("data_dir", "filelist", "max_clips", "seed", "engine", "weights", "width", "expert_weights",
            "expert_width", "window_offset", "batch_size")


def define_flags(flag_values=flags.FLAGS):
    """Defines evaluate.py's flags on `flag_values`."""
    fv = dict(flag_values=flag_values)
    flags.DEFINE_string("data_dir", None, "Folder of clip records (tflipsync preprocess --out).", **fv)
    flags.DEFINE_string("filelist", None, "Held-out filelist of <group>/<id> lines relative to --data_dir.", **fv)
    flags.DEFINE_integer("max_clips", 0, "Evaluate this many clips of the filelist (0: all), drawn with --seed.",
                         lower_bound=0, **fv)
    flags.DEFINE_integer("seed", 0, "Seed of the clip draw when --max_clips is below the filelist's length.", **fv)
    flags.DEFINE_string("engine", "keras", "Generator engine: a name in tflipsync.inference.sync.ENGINES (keras, "
                        "tflite, savedmodel).", **fv)
    flags.DEFINE_string("weights", None, "Generator weights for --engine (default: the embedded model).", **fv)
    flags.DEFINE_float("width", None, "Generator width --weights were made for (default 1.0).", **fv)
    flags.DEFINE_string("expert_weights", None, "Expert judging sync: a .weights.h5, or an expert .tflite from "
                        "`tflipsync export tflite --model expert` (default: the embedded expert).", **fv)
    flags.DEFINE_float("expert_width", None, "Width --expert_weights were made for (default 1.0).", **fv)
    flags.DEFINE_list("audio_shift", ["0", "5", "10"], "Audio shifts in video frames; 0 is the real pair.", **fv)
    flags.DEFINE_integer("window_offset", -1, "Frame j is driven by the mel window at frame j + this (-1: as "
                         "trained).", **fv)
    flags.DEFINE_integer("batch_size", 16, "Frames per engine call and windows per expert call.", lower_bound=1,
                         **fv)
    flags.DEFINE_string("out_json", None, "JSON report to write.", **fv)
    flags.DEFINE_string("out_png", None, "PNG plot to write.", **fv)


def shifts_of(values):
    """The --audio_shift list as distinct integers."""
    try:
        shifts = [int(v) for v in values]
    except ValueError:
        shifts = []
    if not shifts or len(set(shifts)) != len(shifts):
        raise InputError("--audio_shift", "expected distinct integers separated by commas")
    return shifts


def run(flag_values=flags.FLAGS, out=sys.stdout):
    """Evaluates, prints the table and writes the report files; returns the report.

    Raises:
        InputError: an unusable input, named, before any file is written.
    """
    from tflipsync.evaluation import protocol, report

    fv = flag_values
    shifts = shifts_of(fv.audio_shift)
    paths = protocol.check_inputs(fv.data_dir, fv.filelist, fv.weights, fv.expert_weights,
                                  (fv.out_json, fv.out_png))
    paths = protocol.pick_clips(paths, fv.max_clips, fv.seed)
    results = protocol.evaluate(paths, fv.engine, fv.weights, fv.width, fv.expert_weights, fv.expert_width,
                                shifts, fv.batch_size, fv.window_offset,
                                progress=lambda line: print(line, file=sys.stderr, flush=True))
    results["config"] = {name: fv[name].value for name in RECORDED}
    results["config"]["audio_shift"] = shifts
    print(f"engine {results['engine']}: {results['weights']}; judged by {results['expert']}", file=out)
    print(report.format_table(results), file=out)
    if results["skipped"]:
        print(f"skipped {len(results['skipped'])} clip-shift pairs too short for the offset search", file=out)
    report.write_outputs(results, fv.out_json, fv.out_png)
    written = ", ".join(p for p in (fv.out_json, fv.out_png) if p)
    print(f"wrote {written or 'nothing (no --out_json, --out_png)'}", file=out)
    return results
