"""The --runner and --pipeline_options flags of the Beam jobs, and the PipelineOptions they make.

`--runner direct` is Beam's DirectRunner on this machine, in its multi-process mode with --workers
processes (one clip or row at a time each); dataflow, flink and spark submit the same pipeline to
that runner, configured by --pipeline_options (Beam's own flags, as one shell-quoted string):

    --runner dataflow --pipeline_options "--project=P --region=europe-west4 --temp_location=gs://B/tmp
        --sdk_container_image=europe-docker.pkg.dev/P/tflipsync/worker:0.1.0"

This module imports no Beam at import time (define_flags runs for `tflipsync preprocess --help`).
"""

import logging
import shlex

from absl import flags

LOCAL = "local"
RUNNERS = {"direct": "DirectRunner", "dataflow": "DataflowRunner", "flink": "FlinkRunner", "spark": "SparkRunner"}


def define_flags(flag_values, module_name, default_runner="direct"):
    """Defines --runner and --pipeline_options as flags of the command `module_name` (so its --help
    lists them); with default_runner LOCAL, --runner also offers the command's own single-machine
    path, its default."""
    choices = ([LOCAL] if default_runner == LOCAL else []) + list(RUNNERS)
    local = "local: this machine's --workers processes, no Beam; " if default_runner == LOCAL else ""
    flags.DEFINE_enum("runner", default_runner, choices, f"Where the job runs: {local}direct: Beam's DirectRunner "
                      "with --workers processes; dataflow, flink, spark: that Beam runner (pip install -e "
                      "\".[beam]\"; docs/scale.md).", flag_values=flag_values, module_name=module_name)
    flags.DEFINE_string("pipeline_options", "", "Beam pipeline options for the runner, one shell-quoted string "
                        "(\"--project=P --region=R --temp_location=gs://B/tmp\"); docs/scale.md.",
                        flag_values=flag_values, module_name=module_name)


def pipeline_options(runner, workers=1, extra=""):
    """Beam PipelineOptions for `runner` (a RUNNERS key) with the user's `extra` options.

    The DirectRunner gets `workers` processes (multi_processing) unless `extra` says otherwise; the
    job's code ships to workers by pickling its DoFns, so no main session is saved.
    """
    from tflipsync.batch import require_beam

    require_beam(runner)
    from apache_beam.options.pipeline_options import PipelineOptions

    args = [f"--runner={RUNNERS[runner]}"]
    user = shlex.split(extra or "")
    if runner == "direct":
        # this machine's run shows the command's own lines, not the local job service's chatter
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        args.append("--default_sdk_harness_log_level=ERROR")
        if not any(a.startswith("--direct_") for a in user):
            args += ["--direct_running_mode=multi_processing" if workers > 1 else "--direct_running_mode=in_memory",
                     f"--direct_num_workers={workers}"]
    return PipelineOptions(args + user)
