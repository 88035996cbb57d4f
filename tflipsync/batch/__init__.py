"""Jobs over many files on Apache Beam: corpus preparation and batch dubbing.

- preprocess.py: `tflipsync preprocess --runner=direct|dataflow|flink|spark`, videos to clip
  records with tflipsync.corpus.preprocess's own per-clip function;
- sync.py: `tflipsync batch-sync`, one `sync` job per row of a manifest;
- options.py: the --runner and --pipeline_options flags both share, and Beam's PipelineOptions;
- storage.py: reading and writing on any filesystem Beam reads (local, gs://, s3://), atomically.

Apache Beam is an optional extra (`pip install -e ".[beam]"`): nothing here imports it at import
time, and `require_beam` turns its absence into a one-line error. docs/scale.md says how to run
both pipelines on Dataflow and on a Flink cluster.
"""

import logging

from tflipsync.errors import InputError

INSTALL = 'pip install -e ".[beam]"'


def require_beam(runner):
    """Imports and returns apache_beam, or raises InputError naming --runner and the install line."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # Beam's import warns about GCP client libraries it does not need here
    try:
        import apache_beam
    except ImportError:
        raise InputError(f"--runner={runner}", f"needs Apache Beam, which is not installed: {INSTALL}") from None
    finally:
        root.setLevel(level)
    return apache_beam
