"""Evaluates a generator engine on held-out clips: sync figures (LSE-D / LSE-C style, AV offset,
sync accuracy) and image figures (PSNR, SSIM, temporal consistency), beside the real video.

    python evaluate.py --flagfile=configs/eval_synthetic.flags
    python evaluate.py --flagfile=configs/eval_synthetic.flags --engine=tflite --weights=G.tflite

Prints a table and writes a JSON report (--out_json) and a PNG plot (--out_png); both are written
only when the whole evaluation succeeded. The flags are in tflipsync/evaluation/command.py, the
protocol and the figures in tflipsync/evaluation/.
"""

import os
import sys

from absl import app, flags

from tflipsync import native_logs
from tflipsync.errors import InputError
from tflipsync.evaluation import command

command.define_flags(flags.FLAGS)
flags.adopt_module_key_flags(command)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        command.run(flags.FLAGS)
    except InputError as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # before TensorFlow is imported; the C++ start-up lines that ignore it are filtered
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_logs.filtered_stderr():
        app.run(main)
