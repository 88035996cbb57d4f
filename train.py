"""Trains the lip-sync expert, the generator or the generator with its GAN discriminator.

    python train.py --flagfile=configs/expert.flags --data_dir=DATA --model_dir=runs/expert

Flags are defined in tflipsync/training/config.py; later flags override the flagfile's.
TensorFlow is imported only once the flags are parsed, so `--help` answers at once.
"""

import os
import sys

from absl import app, flags

from tflipsync import native_logs
from tflipsync.training import config as training_config

training_config.define_flags(flags.FLAGS)
# `--help` lists the key flags of the main module: make the training flags key flags here.
flags.adopt_module_key_flags(training_config)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from tflipsync.training import loop

    try:
        config = training_config.from_flags(flags.FLAGS)
        loop.train(config)
    except flags.ValidationError as err:
        print(f"train.py: {err}", file=sys.stderr)
        return 2
    except (loop.NonFiniteLoss, ValueError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # before TensorFlow is imported; the C++ start-up lines (cuInit on a machine without a GPU)
    # that ignore it are dropped by the filter, as for the tflipsync command
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_logs.filtered_stderr():
        app.run(main)
