"""Evaluates an engine on held-out clips, with one of two protocols (--protocol).

`records` (the default): a generator engine on clip records; sync figures (LSE-D / LSE-C style,
AV offset, sync accuracy) and image figures (PSNR, SSIM, temporal consistency), beside the real
video.

    python evaluate.py --flagfile=configs/eval_synthetic.flags
    python evaluate.py --flagfile=configs/eval_synthetic.flags --engine=tflite --weights=G.tflite

Prints a table and writes a JSON report (--out_json) and a PNG plot (--out_png); both are written
only when the whole evaluation succeeded. The flags are in tflipsync/evaluation/command.py, the
protocol and the figures in tflipsync/evaluation/.

`lipmotion`: `tflipsync sync` (any engine) on real talking-face clips (../shared/corpus/real),
photo and video mode: does the output's mouth open and close like the real speaker's?
(tflipsync/evaluation/lipmotion.py; flags in tflipsync/evaluation/lipmotion_command.py)

    python evaluate.py --protocol=lipmotion --engine=landmarks [--modes=photo] [--max_clips=3]
"""

import os
import sys

from absl import app, flags

from tflipsync import native_logs
from tflipsync.errors import InputError
from tflipsync.evaluation import command, lipmotion_command

ROOT = os.path.dirname(os.path.abspath(__file__))
PROTOCOLS = {"records": command, "lipmotion": lipmotion_command}

flags.DEFINE_enum("protocol", "records", sorted(PROTOCOLS), "records: a generator on clip records "
                  "(--data_dir, --filelist); lipmotion: sync on real clips (--corpus_dir).")
command.define_flags(flags.FLAGS)
lipmotion_command.define_flags(flags.FLAGS, os.path.join(os.path.dirname(ROOT), "shared", "corpus", "real"))
flags.adopt_module_key_flags(command)
flags.adopt_module_key_flags(lipmotion_command)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        PROTOCOLS[flags.FLAGS.protocol].run(flags.FLAGS)
    except InputError as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # before TensorFlow is imported; the C++ start-up lines that ignore it are filtered
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_logs.filtered_stderr():
        app.run(main)
