"""`tflipsync preprocess --runner=direct|dataflow|flink|spark`: corpus preparation on Apache Beam.

The same clip records as the local path (tflipsync/corpus/preprocess.py), made by the same
per-clip function, `clip_task`, in a Beam pipeline (tflipsync/batch/pipelines.py):

    tflipsync preprocess --input gs://B/lrs2/main --out gs://B/lrs2_records --runner dataflow \\
        --pipeline_options "--project=P --region=R --temp_location=gs://B/tmp ..."

The input is a folder, a filelist or a glob on any filesystem Beam reads; records keep the
layout below it; each is written whole or not at all, finished ones are skipped (so a rerun does
the rest), and the report of skipped clips (preprocess_report.json) is written once at the end.
docs/scale.md: running on Dataflow and Flink, and what it costs.
"""

import json

from tflipsync.batch import options as batch_options, require_beam, storage


def plan(input_path, out_dir, data_root=None):
    """([(source, out_path)] of the clips to make, how many are already made)."""
    from tflipsync.corpus import preprocess
    from tflipsync.data import records

    filesystem = preprocess.LocalFiles() if storage.is_local(input_path) else storage.BeamFiles()
    pairs = preprocess.find_videos(input_path, data_root, filesystem)
    outputs = [storage.join(out_dir, stem + records.EXTENSION) for _, stem in pairs]
    done = storage.existing(outputs, out_dir)
    todo = [(source, out) for (source, _), out in zip(pairs, outputs) if out not in done]
    return preprocess.largest_first(todo), len(pairs) - len(todo)


def preprocess(input_path, out_dir, runner="direct", workers=1, data_root=None, extra_options=""):
    """Runs the pipeline to the end; returns the report (as the local path's preprocess does).

    Args:
        runner: a key of tflipsync.batch.options.RUNNERS.
        workers: the DirectRunner's processes.
        extra_options: Beam pipeline options, one shell-quoted string.
    """
    beam = require_beam(runner)
    from tflipsync.batch import pipelines
    from tflipsync.corpus import preprocess as corpus

    if runner == "direct":
        corpus.check_models()  # remote workers have them in their container (docs/scale.md)
    todo, existing = plan(input_path, out_dir, data_root)
    report = storage.join(out_dir, corpus.REPORT)
    if todo:
        with beam.Pipeline(options=batch_options.pipeline_options(runner, workers, extra_options)) as pipeline:
            pipelines.preprocess(pipeline, todo, existing, out_dir)
    else:
        storage.write_text(report, corpus.report_text(corpus.make_summary(0, existing, [])))
    return json.loads(storage.read_text(report))
