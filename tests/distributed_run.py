"""Helper process for tests/test_distributed.py: the tiny expert's first step under a strategy.

    python tests/distributed_run.py DATA_DIR OUT_DIR STRATEGY [LOGICAL_CPUS]

Splits the CPU into LOGICAL_CPUS logical devices first (before TensorFlow starts), builds the run
the way `loop.train` does (`loop.setup`: strategy, seed, task), takes the first training batch of
the distributed pipeline and saves, as OUT_DIR/first_step.npz (plain arrays), the loss of the
expert's training objective (`ExpertTask.train_loss`) and its gradients, both summed over the
replicas as the loop and the optimizer do.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(data_dir, out_dir, strategy_name, cpus=1):
    if cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpus)
    from tflipsync.training import config as training_config
    from tflipsync.training import loop

    config = training_config.Config(
        model="expert", data_dir=data_dir, model_dir=os.path.join(out_dir, "run"), width=0.25,
        batch_size=4, samples_per_clip=4, shuffle_buffer=16, strategy=strategy_name,
        sync_batch_norm=True, progress=False, seed=5)
    strategy, task = loop.setup(config)
    variables = task.expert.trainable_variables
    batches = strategy.distribute_datasets_from_function(
        lambda context: task.dataset(config.train_list, loop.training_seed(config, 0), context))

    def first_step(batch):
        with tf.GradientTape() as tape:
            loss, _ = task.train_loss(batch)
        gradients = tape.gradient(loss, variables)
        return {"loss": loss, **{f"arr_{i}": g for i, g in enumerate(gradients)}}

    result = loop.replica_sum(strategy, first_step)(next(iter(batches)))
    os.makedirs(out_dir, exist_ok=True)
    np.savez(os.path.join(out_dir, "first_step.npz"), **{k: v.numpy() for k, v in result.items()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
