"""`tflipsync batch-sync`: one `sync` job per row of a manifest, as an Apache Beam pipeline.

    tflipsync batch-sync --manifest jobs.csv --out_dir OUT [--runner direct --workers N]
        [--engine auto --weights W --who ... --silence ...]

The manifest is a CSV file with a header naming at least the columns `face`, `audio` and `out`:
the face video or photo, the speech, and the output video. Relative faces and audio are below the
manifest's folder, relative outputs below --out_dir; any of them may be on a filesystem Beam
reads (gs://, s3://). Each row runs `tflipsync sync` (tflipsync/inference/sync.py) with the flags
given here, on the engine `sync` would pick (auto: the embedded default, the landmarks engine).

A row that fails (a missing file, a video without a face, an output two rows name) becomes one line
of the error report, OUT/batch_sync_errors.csv, and the batch goes on; outputs are written whole
or not at all, and a rerun skips the rows whose output exists, so it finishes an interrupted
batch and retries the failed rows. OUT/batch_sync_report.json counts the rows; both reports are
written at the end of the run. The exit status is 1 if a row failed.

This module is the command: it imports no Beam until the job runs.
"""

import csv
import dataclasses
import io
import json
import os

from tflipsync.batch import options as batch_options, require_beam, storage
from tflipsync.errors import InputError

COLUMNS = ("face", "audio", "out")
ERRORS = "batch_sync_errors.csv"
REPORT = "batch_sync_report.json"
SETTINGS = ("engine", "weights", "width", "who", "silence", "batch_size")  # the sync flags every row shares


@dataclasses.dataclass(frozen=True)
class Row:
    """One job of the manifest: its number (1 for the first row under the header) and its files."""
    number: int
    face: str
    audio: str
    out: str


def read_manifest(manifest, out_dir):
    """The manifest's rows with their paths resolved.

    Raises:
        InputError: the manifest is missing, has no face, audio and out columns, or no rows.
    """
    if not storage.exists(manifest):
        raise InputError(manifest, "no such file")
    text = storage.read_text(manifest)
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        raise InputError(manifest, f"the header must name the columns {', '.join(COLUMNS)}; "
                                   f"missing: {', '.join(missing)}")
    folder = storage.BeamFiles.dirname(manifest) if not storage.is_local(manifest) else \
        os.path.dirname(os.path.abspath(manifest))
    rows = []
    for number, entry in enumerate(reader, 1):
        values = [(entry.get(name) or "").strip() for name in COLUMNS]
        if not any(values):
            continue  # a blank line
        face, audio, out = (value if _absolute(value) else storage.join(root, value)
                            for value, root in zip(values, (folder, folder, out_dir)))
        rows.append(Row(number, face, audio, out))
    if not rows:
        raise InputError(manifest, "names no jobs")
    return rows


def _absolute(path):
    return not storage.is_local(path) or os.path.isabs(path)


def refuse_duplicates(rows):
    """(rows to run, [(Row, error)]): a row whose output an earlier row already names is refused."""
    first, keep, refused = {}, [], []
    for row in rows:
        key = os.path.normpath(os.path.abspath(row.out)) if storage.is_local(row.out) else row.out
        if key in first:
            refused.append((row, f"{row.out}: row {first[key]} writes this output too; each row needs "
                                 "its own output"))
        else:
            first[key] = row.number
            keep.append(row)
    return keep, refused


def write_reports(out_dir, existing, written, late, failures):
    """The error report (one CSV line per failed row, in manifest order) and the counts."""
    failures = sorted(failures, key=lambda failure: failure[0].number)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["row", *COLUMNS, "error"])
    for row, error in failures:
        writer.writerow([row.number, row.face, row.audio, row.out, error])
    storage.write_text(storage.join(out_dir, ERRORS), table.getvalue())
    summary = {"written": written, "existing": existing + late, "failed": len(failures)}
    storage.write_text(storage.join(out_dir, REPORT), json.dumps(summary, indent=1))


def batch_sync(manifest, out_dir, runner="direct", workers=1, extra_options="", **settings):
    """Runs every row of `manifest` not yet done; returns the counts (REPORT's contents).

    Args:
        settings: Options fields every row shares (SETTINGS); None values keep sync's default.
    """
    beam = require_beam(runner)
    from tflipsync.batch import pipelines
    from tflipsync.inference.options import Options, check_options, resolve_engine

    settings = {name: value for name, value in settings.items() if value is not None}
    if runner == "direct":
        from tflipsync.corpus import preprocess

        preprocess.check_models()  # remote workers have them in their container (docs/scale.md)
    check_options(resolve_engine(Options(face="", audio="", out="", **settings)))  # a bad flag fails here, once
    rows, refused = refuse_duplicates(read_manifest(manifest, out_dir))
    done = storage.existing([row.out for row in rows], out_dir)
    todo = [row for row in rows if row.out not in done]
    if todo:
        with beam.Pipeline(options=batch_options.pipeline_options(runner, workers, extra_options)) as pipeline:
            pipelines.batch_sync(pipeline, todo, len(done), refused, out_dir, settings, write_reports)
    else:
        write_reports(out_dir, len(done), 0, 0, refused)
    return json.loads(storage.read_text(storage.join(out_dir, REPORT)))


def define_flags(flag_values):
    from absl import flags

    from tflipsync.inference.options import SILENCE_MODES

    fv = {"flag_values": flag_values}
    flags.DEFINE_string("manifest", None, "CSV with columns face, audio, out: one sync job per row (relative "
                        "faces and audio below the manifest's folder).", **fv)
    flags.DEFINE_string("out_dir", None, "Folder of the outputs (relative `out` paths) and of the reports.", **fv)
    flags.DEFINE_integer("workers", 1, "Processes of --runner direct.", lower_bound=1, **fv)
    batch_options.define_flags(flag_values, __name__)
    flags.DEFINE_enum("engine", "auto", ["auto", "keras", "tflite", "savedmodel", "landmarks"],
                      "Inference engine, as for `tflipsync sync` (auto: the embedded default).", **fv)
    flags.DEFINE_string("weights", None, "Model weights, as for `tflipsync sync`.", **fv)
    flags.DEFINE_float("width", None, "Generator width --weights were made for.", **fv)
    flags.DEFINE_string("who", None, "Whose face to redraw, as for `tflipsync sync`.", **fv)
    flags.DEFINE_enum("silence", "original", list(SILENCE_MODES), "Silent frames, as for `tflipsync sync`.", **fv)
    flags.DEFINE_integer("batch_size", 16, "Frames per generator call.", lower_bound=1, **fv)
    for name in ("manifest", "out_dir"):
        flags.mark_flag_as_required(name, **fv)


def run(flag_values):
    settings = {name: flag_values[name].value for name in SETTINGS}
    summary = batch_sync(flag_values.manifest, flag_values.out_dir, flag_values.runner, flag_values.workers,
                         flag_values.pipeline_options, **settings)
    print(f"batch-sync: {summary['written']} written, {summary['existing']} already done, "
          f"{summary['failed']} failed" + (f" (see {storage.join(flag_values.out_dir, ERRORS)})"
                                           if summary["failed"] else ""))
    return 1 if summary["failed"] else 0
