"""The Beam pipelines of `tflipsync preprocess --runner=...` and `tflipsync batch-sync`.

Both have the same shape: the launcher lists the work (clips or manifest rows) and what is already
done; the pipeline spreads the rest over the workers (Beam's Create ends in a Reshuffle, so a runner
does not fuse the whole job into the one worker that read the list); a DoFn does one item with the
project's own single-machine function and writes its output atomically; the failures leave as a
side output, and one step at the end writes the report.

Models load once per worker, in DoFn.setup, rather than through RunInference: an item is a whole
video, streamed through decode, detect, redraw and encode threads inside the item's own function
(tflipsync/inference/pipeline.py), and its frames never become pipeline elements (a 29-hour corpus
of decoded frames is tens of terabytes to shuffle). RunInference batches elements of a PCollection
into model calls; here the batching is inside the item.

This module imports Apache Beam; the launchers (preprocess.py, sync.py) import it only after
tflipsync.batch.require_beam.
"""

import apache_beam as beam

from tflipsync.batch import storage
from tflipsync.errors import InputError

WRITTEN = "written"
EXISTING = "existing"
FAILED = "failed"


class ClipFn(beam.DoFn):
    """(source video, output record) -> the source where written; tagged outputs EXISTING (the
    source) and FAILED ((source, reason)) otherwise."""

    def setup(self):
        from tflipsync.corpus import preprocess

        preprocess.load_models()

    def process(self, item):
        from tflipsync.corpus import preprocess

        source, out_path = item
        if storage.exists(out_path):  # a retried bundle, or a rerun racing with this one
            yield beam.pvalue.TaggedOutput(EXISTING, source)
            return
        storage.remove_leftovers(out_path)
        try:
            with storage.local_input(source) as local, storage.local_output(out_path) as target:
                status, reason = preprocess.clip_task(local, target, name=source)
        except InputError as err:  # a remote input that is not there; a failed transfer raises, and is retried
            status, reason = "skipped", f"corrupt: {err.problem}"
        if status == "written":
            yield source
        else:
            yield beam.pvalue.TaggedOutput(FAILED, (source, reason))


def write_clip_report(out_dir, existing, written, late, skipped):
    """The preprocess report (tflipsync/corpus/preprocess.py's REPORT), once all clips are done."""
    from tflipsync.corpus import preprocess

    summary = preprocess.make_summary(written, existing + late, skipped)
    storage.write_text(storage.join(out_dir, preprocess.REPORT), preprocess.report_text(summary))


def preprocess(pipeline, todo, existing, out_dir):
    """Adds the clips `todo` ([(source, out_path)]) and the report step to `pipeline`.

    Args:
        existing: how many clips the launcher found already done (for the report).
    """
    results = (pipeline | "clips" >> beam.Create(todo)  # Create(reshuffle=True): spread over the workers
               | "preprocess" >> beam.ParDo(ClipFn()).with_outputs(EXISTING, FAILED, main=WRITTEN))
    _report(pipeline, write_clip_report, out_dir, existing, results)


def _report(pipeline, write, out_dir, existing, results):
    """The step that runs `write(out_dir, existing, written count, late existing count, failures)`
    once, after every item. The three outputs are gathered into one list (a single combine, so the
    report costs one grouping after the work, not one per count)."""
    tagged = [results[tag] | f"mark {tag}" >> beam.Map(lambda value, tag=tag: (tag, value))
              for tag in (WRITTEN, EXISTING, FAILED)]
    _ = (tagged | "outcomes" >> beam.Flatten() | "gather" >> beam.combiners.ToList()
         | "write report" >> beam.Map(_write_outcomes, write, out_dir, existing))


def _write_outcomes(outcomes, write, out_dir, existing):
    counts = {tag: sum(1 for kind, _ in outcomes if kind == tag) for tag in (WRITTEN, EXISTING)}
    failures = [value for kind, value in outcomes if kind == FAILED]
    write(out_dir, existing, counts[WRITTEN], counts[EXISTING], failures)


class SyncFn(beam.DoFn):
    """A manifest row (tflipsync/batch/sync.py's Row) -> its number where written; tagged outputs
    EXISTING (the number) and FAILED ((the Row, the error line)) otherwise.

    Args:
        settings: the Options fields every row shares (engine, weights, ...).
    """

    def __init__(self, settings):
        self.settings = dict(settings)
        self.engine = None

    def setup(self):
        from tflipsync.inference.engines import CROP, ENGINES
        from tflipsync.inference import pipeline, plan  # noqa: F401 -- loaded once, not in the first row's time

        weights = self.settings.get("weights")
        if weights and not storage.is_local(weights):  # a model file on gs:// or s3://: one copy per worker
            self._weights = storage.local_copy(weights)
            self.settings["weights"] = self._weights.name
        options = self._options("face", "audio", "out")
        entry = ENGINES[options.engine]
        entry.load_runtime()
        # a crop engine is one network, shared by every row of this worker; a frame engine keeps
        # per-video state, so each row builds its own (its predictor is loaded once and cached)
        engine = entry.build(options.weights, options.width, options.batch_size)
        self.engine = engine if entry.kind == CROP else None

    def teardown(self):
        if getattr(self, "_weights", None) is not None:
            self._weights.close()

    def _options(self, face, audio, out):
        from tflipsync.inference.options import Options, check_options, resolve_engine

        options = resolve_engine(Options(face=face, audio=audio, out=out, progress=False, **self.settings))
        check_options(options)
        return options

    def process(self, row):
        from tflipsync.inference.sync import run_sync

        if storage.exists(row.out):
            yield beam.pvalue.TaggedOutput(EXISTING, row.number)
            return
        storage.remove_leftovers(row.out)
        local = {}
        try:
            with storage.local_input(row.face) as face, storage.local_input(row.audio) as audio, \
                    storage.local_output(row.out) as out:
                local = {face: row.face, audio: row.audio, out: row.out}
                run_sync(self._options(face, audio, out), engine=self.engine)
        except Exception as err:  # noqa: BLE001 -- one row's failure must not stop the batch
            message = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}"
            for path, name in local.items():  # name the row's files, not a worker's local copies
                if path != name:
                    message = message.replace(path, name)
            yield beam.pvalue.TaggedOutput(FAILED, (row, " ".join(message.split())))
            return
        yield row.number


def batch_sync(pipeline, todo, existing, failures, out_dir, settings, write):
    """Adds the manifest rows `todo` and the report step to `pipeline`.

    Args:
        existing: how many rows the launcher found already done.
        failures: [(Row, error)] the launcher refused (duplicate outputs); they join the report.
        write: write(out_dir, existing, written, late, failures), the report writer.
    """
    results = (pipeline | "rows" >> beam.Create(todo)  # Create(reshuffle=True): spread over the workers
               | "sync" >> beam.ParDo(SyncFn(settings)).with_outputs(EXISTING, FAILED, main=WRITTEN))
    refused = pipeline | "refused rows" >> beam.Create(failures)
    merged = {WRITTEN: results[WRITTEN], EXISTING: results[EXISTING],
              FAILED: (results[FAILED], refused) | "all failures" >> beam.Flatten()}
    _report(pipeline, write, out_dir, existing, merged)
