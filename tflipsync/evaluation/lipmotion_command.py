"""`evaluate.py --protocol=lipmotion`: its own flags, the table and the run.

The flags shared with the records protocol (tflipsync/evaluation/command.py) keep their names:
--filelist (here a corpus split file, default <corpus_dir>/test.txt), --engine, --weights,
--width is refused, --max_clips and --seed (the clip draw), --expert_weights (here optional: LSE
figures only when given; `embedded` for the embedded expert) and --out_json. Nothing heavy is
imported before the inputs are checked.
"""

import json
import math
import os
import sys

from absl import flags

from tflipsync.errors import InputError

CORPUS_HINT = "the real corpus (../shared/corpus/real beside the repository in this workplace)"


def define_flags(flag_values, corpus_dir=None):
    """Defines the lipmotion protocol's own flags on `flag_values` (corpus_dir: --corpus_dir's default)."""
    fv = dict(flag_values=flag_values)
    flags.DEFINE_string("corpus_dir", corpus_dir, "--protocol=lipmotion: the real corpus folder (manifest.tsv, "
                        "clips/, train.txt, val.txt, test.txt).", **fv)
    flags.DEFINE_list("modes", ["photo", "video"], "--protocol=lipmotion: photo (the first frame lip-synced to the "
                      "clip's speech) and/or video (the clip reversed, lip-synced to its speech).", **fv)
    flags.DEFINE_string("cache_dir", "runs/lipmotion_cache", "--protocol=lipmotion: where measurements of real "
                        "clips and the fitted ridge anchor are kept.", **fv)
    flags.DEFINE_list("anchor_filelists", ["train.txt", "val.txt"], "--protocol=lipmotion: the ridge anchor's "
                      "train and validation filelists, relative to --corpus_dir (empty: no ridge figures).", **fv)


def _cell(value, width, digits=3):
    if value is None or isinstance(value, float) and math.isnan(value):
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:{width}.{digits}f}"
    return str(value).rjust(width)


def format_table(report):
    """Per clip and output the figures, then the medians over clips, as text lines."""
    expert = report.get("expert") is not None
    extra = "  LSE-D  LSE-C" if expert else ""
    head = (f"{'clip':40} {'speaker':24} {'frames':>6} {'secs':>5} {'loud r':>6} {'ridge r':>7} {'src r':>6} | "
            f"{'engine':10} {'mode':5} {'r':>6} {'lag':>3} {'dist':>6} {'mesh':>5} {'sharp':>6}{extra}")
    lines = [head, "-" * len(head)]
    outputs = report["outputs"]
    for clip in report["clips"]:
        rows = [r for r in outputs if r["clip"] == clip["clip"]]
        first = (f"{clip['clip'][-40:]:40} {clip['speaker'][:24]:24} {clip['frames']:6d} {clip['seconds']:5.0f} "
                 f"{_cell(clip['loudness_r'], 6)} {_cell(clip['ridge_r'], 7)} {_cell(clip['source_r'], 6)}")
        if expert:
            rows = [{"engine": "truth", "mode": "", "lse_d": clip.get("truth_lse_d"),
                     "lse_c": clip.get("truth_lse_c")}] + rows
        for n, row in enumerate(rows or [{"engine": "", "mode": ""}]):
            left = first if n == 0 else " " * len(first)
            cells = (f"{row['engine']:10} {row['mode']:5} {_cell(row.get('r'), 6)} {_cell(row.get('lag'), 3)} "
                     f"{_cell(row.get('landmark_distance'), 6)} {_cell(row.get('mesh_found'), 5, 2)} "
                     f"{_cell(row.get('sharpness'), 6, 2)}")
            if expert:
                cells += f" {_cell(row.get('lse_d'), 6)} {_cell(row.get('lse_c'), 6)}"
            if "error" in row:
                cells += f"  failed: {row['error']}"
            lines.append(f"{left} | {cells}")
    lines.append("")
    lines.append(f"medians over {len(report['clips'])} clips (r best over lags -{report['max_lag']}..+"
                 f"{report['max_lag']} frames):")
    lines.append(f"  {'engine':10} {'mode':5} {'r':>6} {'dist':>6} {'mesh':>5} {'sharp':>6}"
                 + ("  LSE-D  LSE-C" if expert else "") + "  clips failed")
    for row in report["medians"]:
        line = (f"  {row['engine']:10} {row['mode']:5} {_cell(row['r'], 6)} {_cell(row['landmark_distance'], 6)} "
                f"{_cell(row['mesh_found'], 5, 2)} {_cell(row['sharpness'], 6, 2)}")
        if expert:
            line += f" {_cell(row['lse_d'], 6)} {_cell(row['lse_c'], 6)}"
        lines.append(line + f"  {row['clips']:5d} {row['failed']:6d}")
    base = report["clip_medians"]
    anchor = report.get("anchor")
    ridge = (f"ridge r {_cell(base['ridge_r'], 0)} (alpha {anchor['alpha']:g}; median val r per alpha "
             + ", ".join(f"{a:g}: {_cell(v, 0)}" for a, v in zip(anchor["alphas"], anchor["val_median_r"])) + ")"
             if anchor else "ridge r - (no anchor)")
    lines.append(f"  audio baselines: loudness r {_cell(base['loudness_r'], 0)}; {ridge}")
    lines.append(f"  untouched reversed source (video mode doing nothing): r {_cell(base['source_r'], 0)}")
    if expert:
        lines.append(f"  truth (the real clips): LSE-D {_cell(base['truth_lse_d'], 0)}, "
                     f"LSE-C {_cell(base['truth_lse_c'], 0)}")
    return "\n".join(lines)


def to_json(report):
    """The report as JSON text (NaN written as null)."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return json.dumps(clean(report), indent=1)


def check_inputs(corpus_dir, filelist, engines, expert=None, out_json=None, anchor_filelists=()):
    """The clip paths of the filelist, after checking every input (InputError naming the first bad one).

    Args:
      engines: {engine name: weights path or None}.
    """
    from tflipsync.evaluation import lipmotion_protocol
    from tflipsync.inference.engines import ENGINES

    for engine, weights in engines.items():
        if engine not in ENGINES:
            raise InputError("--engine", f"{engine!r} is not an engine; use one of {sorted(ENGINES)}")
        if weights and not os.path.exists(weights):
            raise InputError(weights, f"no such file (weights of {engine})")
    if not corpus_dir or not os.path.isdir(corpus_dir):
        raise InputError(corpus_dir or "--corpus_dir", f"no such folder: give --corpus_dir, {CORPUS_HINT}")
    clips = lipmotion_protocol.read_filelist(filelist or os.path.join(corpus_dir, "test.txt"), corpus_dir)
    if anchor_filelists and len(anchor_filelists) != 2:
        raise InputError("--anchor_filelists", "expected two filelists: train,val (or nothing)")
    for name in anchor_filelists or ():
        lipmotion_protocol.read_filelist(os.path.join(corpus_dir, name), corpus_dir)
    if expert and expert != "embedded" and not os.path.exists(expert):
        raise InputError(expert, "no such file (--expert_weights)")
    if out_json and not os.path.isdir(os.path.dirname(os.path.abspath(out_json))):
        raise InputError(out_json, "the output folder does not exist")
    return clips


def run(flag_values, out=sys.stdout):
    """Runs the lipmotion protocol from evaluate.py's flags; prints the table, writes --out_json."""
    from tflipsync import files
    from tflipsync.evaluation import lipmotion_protocol, protocol

    fv = flag_values
    for name in ("width", "out_png", "data_dir"):
        if fv[name].value is not None:
            raise InputError(f"--{name}", "is not a flag of --protocol=lipmotion")
    engines = {fv.engine: fv.weights}
    clips = check_inputs(fv.corpus_dir, fv.filelist, engines, fv.expert_weights, fv.out_json, fv.anchor_filelists)
    clips = protocol.pick_clips(clips, fv.max_clips, fv.seed)
    report = lipmotion_protocol.evaluate(
        clips, engines, tuple(fv.modes), fv.corpus_dir, fv.cache_dir, fv.expert_weights,
        tuple(fv.anchor_filelists) or None, progress=lambda line: print(line, file=sys.stderr, flush=True))
    report["config"] = {name: fv[name].value for name in ("corpus_dir", "filelist", "engine", "weights", "modes",
                                                          "max_clips", "seed", "cache_dir", "expert_weights",
                                                          "anchor_filelists")}
    print(format_table(report), file=out)
    if fv.out_json:
        files.write_bytes(fv.out_json, to_json(report))
    print(f"wrote {fv.out_json or 'nothing (no --out_json)'}", file=out)
    return report
