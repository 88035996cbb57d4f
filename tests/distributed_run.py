"""Helper process for tests/test_distributed.py: trains the tiny expert under a strategy.

    python tests/distributed_run.py DATA_DIR OUT_DIR STRATEGY [LOGICAL_CPUS]

Splits the CPU into LOGICAL_CPUS logical devices first (before TensorFlow starts), trains 3 steps
and saves the trained weights and the last step's loss as OUT_DIR/weights.npz (plain arrays).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(data_dir, out_dir, strategy, cpus=1):
    if cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpus)
    from tflipsync.training import config as training_config
    from tflipsync.training import loop

    config = training_config.Config(
        model="expert", data_dir=data_dir, model_dir=os.path.join(out_dir, "run"), width=0.25,
        batch_size=4, samples_per_clip=4, shuffle_buffer=16, max_steps=3, eval_interval=1000, eval_batches=1,
        checkpoint_interval=1000, strategy=strategy, sync_batch_norm=True, progress=False, seed=5)
    metrics = loop.train(config)
    from tflipsync import models
    model = models.build_expert(0.25)
    model.load_weights(os.path.join(out_dir, "run", "expert.weights.h5"))
    np.savez(os.path.join(out_dir, "weights.npz"), *[v.numpy() for v in model.trainable_variables],
             loss=np.float64(metrics["train"]["loss"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
