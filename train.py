"""Trains the lip-sync expert, the generator or the generator with its GAN discriminator.

    python train.py --flagfile=configs/expert.flags --data_dir=DATA --model_dir=runs/expert

Flags are defined in tflipsync/training/config.py; later flags override the flagfile's.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from tflipsync.training import config as training_config  # noqa: E402

training_config.define_flags(flags.FLAGS)


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
    app.run(main)
