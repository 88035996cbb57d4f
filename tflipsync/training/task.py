"""The Task protocol: what one training recipe gives the loop (loop.py), and what recipes share.

A recipe (one file under `tasks/`) subclasses `Task`. The loop knows no recipe by name; it calls,
in this order:

1. `Task(config, global_batch_size)` inside the strategy scope: the task builds its networks,
   optimizers and schedule state there, so that every variable is mirrored;
2. `trackables()`: what the checkpoint saves and restores (networks, optimizers, schedule state);
3. `dataset(filelist, seed, input_context)`: the recipe's own input pipeline, called once per
   input pipeline by `tf.distribute.Strategy.distribute_datasets_from_function`;
   `validation_dataset(filelist, input_context)`: the held-out batches (each clip once);
4. `train_step(batch)` and `eval_step(batch)` on one replica's batch inside `strategy.run`; they
   return dicts of scalars that the loop sums over replicas. Train-step losses are divided by
   the GLOBAL batch (`tf.nn.compute_average_loss`), so the sum over replicas is the global
   mean; eval steps return sums and a "count" (the loop divides once at the end);
5. `schedule(validation)` after each evaluation: a change of schedule state, described, or None;
6. `summaries(batch, step)` on the chief every `config.image_interval` steps, under the train
   writer (image grids); nothing by default;
7. `weights()` at the end and for the best validation: {file stem: network} saved as
   `<stem>.weights.h5`; `best_metric` names the validation figure (lower is better) that picks
   the best weights.
"""

import abc

import keras
import tensorflow as tf


class Task(abc.ABC):
    """One training recipe; see the module docstring for the protocol.

    Attributes:
        config: the frozen `config.Config` of the run.
        global_batch_size: int, samples per step over all replicas.
        best_metric: str, validation figure picking the best weights (lower is better).
    """

    best_metric = "loss"

    def __init__(self, config, global_batch_size):
        self.config = config
        self.global_batch_size = global_batch_size

    @abc.abstractmethod
    def dataset(self, filelist, seed, input_context=None, repeat=True):
        """The recipe's tf.data pipeline of per-replica batches (see `tflipsync.data`)."""

    def validation_dataset(self, filelist, input_context=None):
        """Held-out batches: each clip of `filelist` once, with the same windows every time.

        The pipelines draw windows with stateless keys, so one pass (no repeat) at a fixed seed
        gives the same windows of the same clips at every evaluation and on every machine.
        """
        return self.dataset(filelist, VALIDATION_SEED, input_context, repeat=False)

    def trackables(self):
        """{name: trackable} saved in the checkpoint; by default the networks of `weights()` and
        `self.optimizer` (a recipe with more state names it all)."""
        return {**self.weights(), "optimizer": self.optimizer}

    @abc.abstractmethod
    def weights(self):
        """{file stem: keras.Model} written as <stem>.weights.h5."""

    @abc.abstractmethod
    def train_step(self, batch):
        """One optimisation step on one replica's batch; returns {metric: scalar}."""

    @abc.abstractmethod
    def eval_step(self, batch):
        """Sums of per-example figures of one replica's batch and their "count"."""

    def schedule(self, validation):
        """Updates schedule state after an evaluation; returns a description of a change, or None."""
        return None

    def summaries(self, batch, step):
        """Writes extra summaries (images) of one replica's batch to the default writer."""

    def pipeline_arguments(self, filelist, seed, input_context, repeat):
        """Keyword arguments every `tflipsync.data` pipeline takes, from the config."""
        config = self.config
        arguments = dict(filelist=filelist, seed=seed, input_context=input_context,
                         samples_per_clip=config.samples_per_clip, repeat=repeat)
        if config.shuffle_buffer:
            arguments["shuffle_buffer"] = config.shuffle_buffer
        return arguments


# Seed of the validation windows: fixed, so that every evaluation of every run sees the same ones.
VALIDATION_SEED = 7919


def adam(config, learning_rate=None):
    """Adam with the config's betas (loss-scaled under mixed_float16)."""
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate or config.learning_rate,
                                      beta_1=config.beta_1, beta_2=config.beta_2)
    if config.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def apply_gradients(optimizer, tape, loss, variables):
    """Gradients of `loss` (scaled under float16) applied to `variables`."""
    scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
    gradients = tape.gradient(scaled, variables)
    optimizer.apply_gradients(zip(gradients, variables))


def trained(model, config):
    """Prepares a network that this run trains: initial weights, batch-norm synchronisation."""
    if config.init_weights:
        model.load_weights(config.init_weights)
    if config.sync_batch_norm:
        # Keras reads `synchronized` when the layer is called, so the flag can be set after
        # building: moments are then all-reduced over the replicas of a tf.distribute strategy.
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
    return model


def global_mean(per_example, task):
    """Per-example values (B,) of one replica summed and divided by the GLOBAL batch size."""
    return tf.nn.compute_average_loss(per_example, global_batch_size=task.global_batch_size)
