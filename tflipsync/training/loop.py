"""The one training loop of all recipes: strategy, data, checkpoints, evaluation, summaries.

    train(config)  # see config.py; train.py calls it

The loop owns what the recipes (the Task protocol, task.py) do not: the strategy scope every variable is built in,
distributed datasets, a `tf.train.CheckpointManager` (networks, optimizers, step, schedule
state) saved every `checkpoint_interval` steps and at the end, resumption from the latest
checkpoint, evaluation every `eval_interval` steps with the best-by-validation weights kept,
TensorBoard summaries, a progress bar, and a stop with a clear message on a non-finite loss
(the last good checkpoint stays the latest). Only the chief writes; other workers of a
multi-worker run write to a scratch folder that is deleted.

Data position: the pipelines are deterministic for a seed, and a run resumed at step k reads
the stream of seed (seed, k), so a resumed run never replays the batches of its first part
(the exact stream position is not checkpointed: shuffle buffers are large).
"""

import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tflipsync import files
from tflipsync.training import tasks

CHECKPOINTS = "checkpoints"
BEST = "best"


class NonFiniteLoss(RuntimeError):
    """A training loss became NaN or infinite."""


def make_strategy(config):
    """The tf.distribute strategy named by config.strategy."""
    if config.strategy == "mirrored":
        # every GPU; without GPUs, every logical CPU device (tests split the CPU in two)
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if config.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if config.strategy == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def setup(config):
    """(strategy, task) of a run: the strategy, the seed set, the task built in its scope."""
    if config.mixed_precision != "float32":
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    strategy = make_strategy(config)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        task = tasks.build(config)
    return strategy, task


def replica_sum(strategy, function):
    """A tf.function running `function(batch)` on every replica and summing its dict over them."""
    @tf.function
    def call(batch):
        results = strategy.run(function, args=(batch,))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in results.items()}
    return call


def measure(eval_call, dataset, max_batches=None):
    """Held-out figures: the eval-step sums over the batches of a (distributed) dataset (at most
    `max_batches`) divided by their count; returns ({figure: mean}, count).

    Raises:
        ValueError: the dataset gave no sample.
    """
    totals = {}
    for index, batch in enumerate(dataset):
        if max_batches is not None and index >= max_batches:
            break
        for k, v in _local(eval_call(batch)).items():
            totals[k] = totals.get(k, 0.0) + v
    count = totals.pop("count", 0.0)
    if not count:
        raise ValueError("no validation sample: no held-out clip has a usable window")
    return {k: v / count for k, v in totals.items()}, int(count)


def _local(values):
    """Numbers of a dict of (reduced) tensors."""
    return {k: float(v.numpy()) for k, v in values.items()}


def train(config, out=sys.stdout):
    """Trains config.model until config.max_steps; returns the final {metric: value} dict."""
    strategy, task = setup(config)
    chief = is_chief(strategy)
    write_dir = config.model_dir if chief else tempfile.mkdtemp(prefix="tflipsync-worker-")
    os.makedirs(write_dir, exist_ok=True)
    with strategy.scope():
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                           aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        best = tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="best_validation",
                           aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    checkpoint = tf.train.Checkpoint(step=step, best_validation=best, **task.trackables())
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(write_dir, CHECKPOINTS),
                                         max_to_keep=config.keep_checkpoints)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        print(f"resumed from {manager.latest_checkpoint} at step {int(step.numpy())}", file=out)
    if chief:
        _write_config(config, write_dir)
    start = int(step.numpy())

    iterator = iter(strategy.distribute_datasets_from_function(
        lambda context: task.dataset(config.train_list, training_seed(config, start), context)))
    train_call = replica_sum(strategy, task.train_step)
    eval_call = replica_sum(strategy, task.eval_step)

    def evaluate():
        # every held-out clip once, the same windows each time (at most eval_batches batches)
        val_data = strategy.distribute_datasets_from_function(
            lambda context: task.validation_dataset(config.val_list or config.train_list, context))
        return measure(eval_call, val_data, config.eval_batches)[0]

    writers = {}
    if chief:
        writers = {name: tf.summary.create_file_writer(os.path.join(write_dir, name))
                   for name in ("train", "validation")}

    from tqdm import tqdm
    bar = tqdm(total=config.max_steps, initial=start, unit="step", desc=f"train {config.model}",
               disable=not (config.progress and chief), file=out if out is not sys.stdout else None)
    metrics, last = {}, {}
    if start == 0:
        # the starting point of every validation curve (what "falls from" is measured against)
        last = evaluate()
        print(f"step 0: validation {_format(last)}", file=out)
        if chief:
            _scalars(writers["validation"], last, 0)
    started = time.perf_counter()
    try:
        while int(step.numpy()) < config.max_steps:
            batch = next(iterator)
            metrics = _local(train_call(batch))
            step.assign_add(1)
            current = int(step.numpy())
            if not all(np.isfinite(v) for v in metrics.values()):
                raise NonFiniteLoss(
                    f"non-finite training loss at step {current} ({_format(metrics)}); stopped "
                    f"without saving, the last good checkpoint is {manager.latest_checkpoint}")
            bar.update(1)
            bar.set_postfix_str(_format(metrics, short=True))
            if chief and current % config.log_interval == 0:
                _scalars(writers["train"], metrics, current)
            if chief and current % config.image_interval == 0:
                with writers["train"].as_default():
                    task.summaries(batch_local(strategy, batch), current)
            if current % config.eval_interval == 0 or current == config.max_steps:
                last = evaluate()
                change = task.schedule(last)
                print(f"step {current}: validation {_format(last)}" + (f"; {change}" if change else ""),
                      file=out)
                if chief:
                    _scalars(writers["validation"], last, current)
                if last[task.best_metric] < float(best.numpy()):
                    best.assign(last[task.best_metric])
                    _save_weights(task, os.path.join(write_dir, BEST))
            if current % config.checkpoint_interval == 0 or current == config.max_steps:
                manager.save(checkpoint_number=current)
    finally:
        bar.close()
        for writer in writers.values():
            writer.flush()
    _save_weights(task, write_dir)
    elapsed = time.perf_counter() - started
    done = int(step.numpy()) - start
    checksum = sum(float(np.abs(v.numpy()).astype(np.float64).sum())
                   for model in task.weights().values() for v in model.trainable_variables)
    print(f"trained {done} steps in {elapsed:.1f} s ({done / max(elapsed, 1e-9):.2f} steps/s); "
          f"weights in {write_dir}; weight checksum {checksum:.9e}", file=out)
    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
    return {"train": metrics, "validation": last}


def training_seed(config, start):
    """Seed of the training stream of a run started (or resumed) at step `start`."""
    return config.seed * 1_000_003 + start


def batch_local(strategy, batch):
    """The first replica's part of a distributed batch (for image summaries)."""
    return {k: strategy.experimental_local_results(v)[0] for k, v in batch.items()}


def _format(metrics, short=False):
    return ", ".join(f"{k} {v:.3f}" if short else f"{k} {v:.4f}" for k, v in sorted(metrics.items()))


def _scalars(writer, metrics, step):
    with writer.as_default():
        for name, value in metrics.items():
            tf.summary.scalar(name, value, step=step)


def _save_weights(task, directory):
    """Writes each network's .weights.h5 atomically (temporary name, then rename)."""
    os.makedirs(directory, exist_ok=True)
    for stem, model in task.weights().items():
        with files.atomic_path(os.path.join(directory, f"{stem}.weights.h5")) as temporary:
            model.save_weights(temporary)


def _write_config(config, directory):
    """Writes the resolved flags as a flagfile (`--flagfile=MODEL_DIR/flags.txt` repeats the run)."""
    import dataclasses
    lines = [f"--{k}={v}" for k, v in sorted(dataclasses.asdict(config).items()) if v is not None]
    files.write_bytes(os.path.join(directory, "flags.txt"), "\n".join(lines) + "\n")
