"""The training and evaluation steps of each recipe, apart from the loop (see loop.py).

A task owns its networks, optimizers and schedule state; `train_step` and `eval_step` run on one
replica's batch inside `strategy.run` and return dicts of scalars that the loop sums over
replicas. Train-step losses are already divided by the global batch (so the sum over replicas is
the global mean); eval steps return sums and a count.

The frozen expert in the generator recipes runs in inference mode: its batch norm uses the moving
statistics it was trained with. The original leaves it in training mode by accident (it never
calls eval()), so there the sync loss of one sample depends on the rest of its batch and on how
the batch is split over GPUs, and every generator step rewrites the expert's statistics. With
moving statistics, the sync loss is a fixed function of the sample, the same on one device or
many, and the expert is exactly the one that was validated.
"""

import keras
import tensorflow as tf

from tflipsync import models
from tflipsync.training import losses


def _adam(learning_rate, beta_1, beta_2, precision):
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _apply(optimizer, tape, loss, variables):
    """Gradients of `loss` (scaled under float16) applied to `variables`."""
    scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
    gradients = tape.gradient(scaled, variables)
    optimizer.apply_gradients(zip(gradients, variables))


def _trained(model, config):
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


def _accuracy_count(probability, label):
    return tf.reduce_sum(tf.cast(tf.equal(probability > 0.5, label > 0.5), tf.float32))


class ExpertTask:
    """The lip-sync expert: BCE on the cosine of the audio and face embeddings."""

    def __init__(self, config, global_batch_size):
        self.config = config
        self.global_batch_size = global_batch_size
        self.expert = _trained(models.build_expert(config.width), config)
        self.optimizer = _adam(config.learning_rate, config.beta_1, config.beta_2, config.mixed_precision)
        self.optimizer.build(self.expert.trainable_variables)

    def trackables(self):
        return {"expert": self.expert, "optimizer": self.optimizer}

    def weights(self):
        """{file stem: model} written as .weights.h5 for inference."""
        return {"expert": self.expert}

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            per_example, probability = losses.sync_loss(
                self.expert, batch["mel"], batch["face"], batch["label"], training=True)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
        _apply(self.optimizer, tape, loss, self.expert.trainable_variables)
        return {"loss": loss,
                "accuracy": _accuracy_count(probability, batch["label"]) / self.global_batch_size}

    def eval_step(self, batch):
        per_example, probability = losses.sync_loss(
            self.expert, batch["mel"], batch["face"], batch["label"], training=False)
        return {"loss": tf.reduce_sum(per_example), "accuracy": _accuracy_count(probability, batch["label"]),
                "count": tf.cast(tf.shape(per_example)[0], tf.float32)}

    # validation metric that picks the best weights (lower is better)
    best_metric = "loss"

    def schedule(self, val_metrics):
        """Expert training has no schedule; returns a description of a change, or None."""
        return None


class GeneratorTask:
    """The generator against L1, the frozen expert and, when disc_weight > 0, the discriminator."""

    def __init__(self, config, global_batch_size):
        self.config = config
        self.global_batch_size = global_batch_size
        self.generator = _trained(models.build_generator(config.width), config)
        self.expert = models.build_expert(config.width)
        if config.expert_weights:
            self.expert.load_weights(config.expert_weights)
        self.expert.trainable = False
        self.optimizer = _adam(config.learning_rate, config.beta_1, config.beta_2, config.mixed_precision)
        self.optimizer.build(self.generator.trainable_variables)
        self.discriminator = None
        if config.gan:
            self.discriminator = models.build_discriminator(config.width)
            self.disc_optimizer = _adam(config.disc_learning_rate, config.beta_1, config.beta_2,
                                        config.mixed_precision)
            self.disc_optimizer.build(self.discriminator.trainable_variables)
        # Schedule state, saved in the checkpoint: the sync weight switches on once, after an
        # evaluation whose sync loss is below config.sync_switch_below.
        self.sync_weight = tf.Variable(config.sync_weight, trainable=False, dtype=tf.float32,
                                       name="sync_weight",
                                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def trackables(self):
        out = {"generator": self.generator, "optimizer": self.optimizer, "sync_weight": self.sync_weight}
        if self.discriminator is not None:
            out.update(discriminator=self.discriminator, disc_optimizer=self.disc_optimizer)
        return out

    def weights(self):
        out = {"generator": self.generator}
        if self.discriminator is not None:
            out["discriminator"] = self.discriminator
        return out

    def generate(self, batch, training):
        """Generated frames (B, 5, 96, 96, 3) for a batch of 5-frame windows."""
        face = batch["face"]
        frames = face.shape[1]
        flat_face = tf.reshape(face, [-1, *face.shape[2:]])  # (B*5, 96, 96, 6)
        flat_mel = tf.reshape(batch["mels"], [-1, *batch["mels"].shape[2:]])  # (B*5, 80, 16, 1)
        generated = self.generator([flat_mel, flat_face], training=training)
        return tf.reshape(tf.cast(generated, tf.float32), [-1, frames, *generated.shape[1:]])

    def _losses(self, batch, generated):
        """Per-example L1, sync and (GAN) adversarial losses of generated frames."""
        l1 = losses.l1(generated, batch["target"])
        ones = tf.ones_like(l1)
        sync, probability = losses.sync_loss(self.expert, batch["sync_mel"],
                                             losses.lower_half_stack(generated), ones, training=False)
        out = {"l1": l1, "sync": sync, "sync_probability": probability}
        if self.discriminator is not None:
            flat = tf.reshape(generated, [-1, *generated.shape[2:]])
            judged = tf.reshape(self.discriminator(flat, training=False)[:, 0], [-1, generated.shape[1]])
            out["adversarial"] = tf.reduce_mean(losses.binary_cross_entropy(judged, tf.ones_like(judged)), axis=1)
        return out

    def train_step(self, batch):
        s = self.sync_weight
        d = self.config.disc_weight
        with tf.GradientTape() as tape:
            generated = self.generate(batch, training=True)
            parts = self._losses(batch, generated)
            per_example = (1.0 - s - d) * parts["l1"] + s * parts["sync"]
            if self.discriminator is not None:
                per_example += d * parts["adversarial"]
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
        _apply(self.optimizer, tape, loss, self.generator.trainable_variables)
        out = {"loss": loss}
        for name in ("l1", "sync", "adversarial"):
            if name in parts:
                out[name] = tf.nn.compute_average_loss(parts[name], global_batch_size=self.global_batch_size)
        if self.discriminator is not None:
            out.update(self._discriminator_step(batch, tf.stop_gradient(generated)))
        return out

    def _discriminator_step(self, batch, generated):
        real = tf.reshape(batch["target"], [-1, *batch["target"].shape[2:]])
        fake = tf.reshape(generated, [-1, *generated.shape[2:]])
        frames = batch["target"].shape[1]
        with tf.GradientTape() as tape:
            p_real = tf.reshape(self.discriminator(real, training=True)[:, 0], [-1, frames])
            p_fake = tf.reshape(self.discriminator(fake, training=True)[:, 0], [-1, frames])
            real_loss = tf.reduce_mean(losses.binary_cross_entropy(p_real, tf.ones_like(p_real)), axis=1)
            fake_loss = tf.reduce_mean(losses.binary_cross_entropy(p_fake, tf.zeros_like(p_fake)), axis=1)
            loss = tf.nn.compute_average_loss(real_loss + fake_loss, global_batch_size=self.global_batch_size)
        _apply(self.disc_optimizer, tape, loss, self.discriminator.trainable_variables)
        return {"disc_real": tf.nn.compute_average_loss(real_loss, global_batch_size=self.global_batch_size),
                "disc_fake": tf.nn.compute_average_loss(fake_loss, global_batch_size=self.global_batch_size)}

    def eval_step(self, batch):
        generated = self.generate(batch, training=False)
        parts = self._losses(batch, generated)
        out = {name: tf.reduce_sum(parts[name]) for name in ("l1", "sync")}
        out["sync_accuracy"] = tf.reduce_sum(tf.cast(parts["sync_probability"] > 0.5, tf.float32))
        # The same expert on the true frames: the floor the generated frames' sync loss can reach.
        real, _ = losses.sync_loss(self.expert, batch["sync_mel"], losses.lower_half_stack(batch["target"]),
                                   tf.ones_like(parts["l1"]), training=False)
        out["sync_real"] = tf.reduce_sum(real)
        out["count"] = tf.cast(tf.shape(parts["l1"])[0], tf.float32)
        return out

    best_metric = "l1"

    def schedule(self, val_metrics):
        """Switches the sync weight on (once) when validation sync loss is low enough."""
        if (float(self.sync_weight.numpy()) == self.config.sync_weight
                and self.config.sync_weight_after_switch != self.config.sync_weight
                and val_metrics["sync"] < self.config.sync_switch_below):
            self.sync_weight.assign(self.config.sync_weight_after_switch)
            return (f"sync weight {self.config.sync_weight:g} -> {self.config.sync_weight_after_switch:g} "
                    f"(validation sync loss {val_metrics['sync']:.3f} < {self.config.sync_switch_below:g})")
        return None


class LandmarkTask:
    """The landmark LSTM: L2 on the PCA coefficients of the mouth motion at the steps with a face.

    The PCA basis and the canonical rest mouth are fitted on the training split when the task is
    made and stored in the network (`MouthBasis`), so checkpoints and weight files carry them.
    The targets are projected on the basis here; the network's delay pairs output t with the
    target of step t - delay.
    """

    def __init__(self, config, global_batch_size):
        from tflipsync.data.landmarks import fit_basis
        from tflipsync.models import landmarks as landmark_models

        self.config = config
        self.global_batch_size = global_batch_size
        if config.bidirectional:
            network = landmark_models.build_bidirectional_lstm(config.units, config.pca_dims)
        else:
            network = landmark_models.build_landmark_lstm(config.delay, config.units, config.pca_dims)
        network.basis.set_basis(*fit_basis(config.data_dir, config.train_list, config.pca_dims))
        self.network = _trained(network, config)
        self.optimizer = _adam(config.learning_rate, config.beta_1, config.beta_2, config.mixed_precision)
        self.optimizer.build(self.network.trainable_variables)

    def trackables(self):
        return {"landmarks": self.network, "optimizer": self.optimizer}

    def weights(self):
        return {"landmarks": self.network}

    def _per_example(self, batch, training):
        """Per-example squared coefficient error and point error over mouth width, mean over
        the valid steps."""
        from tflipsync.models.landmarks import shift_targets

        outputs = self.network(batch["mel"], training=training)
        basis = self.network.basis
        motion = tf.reshape(batch["motion"], [*batch["motion"].shape[:2], -1])  # (B, T, K*2)
        predicted = tf.cast(outputs["coefficients"], tf.float32)
        predicted, motion, weight = shift_targets(predicted, motion, batch["weight"], self.network.delay)
        squared = tf.reduce_sum(tf.square(predicted - basis.project(motion)), axis=-1)  # (B, T')
        # points: the canonical rest plus each motion, (B, T', K, 2)
        shape = [*tf.unstack(tf.shape(motion))[:2], self.network.points, 2]
        true_points = tf.reshape(motion + basis.rest, shape)
        points = tf.reshape(basis.motion(predicted) + basis.rest, shape)
        distance = tf.reduce_mean(tf.norm(points - true_points, axis=-1), axis=-1)  # (B, T')
        width = tf.norm(true_points[..., 10, :] - true_points[..., 0, :], axis=-1)
        error = distance / tf.maximum(width, 1e-6)
        steps = tf.maximum(tf.reduce_sum(weight, axis=1), 1.0)
        return (tf.reduce_sum(squared * weight, axis=1) / steps,
                tf.reduce_sum(error * weight, axis=1) / steps)

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            per_example, error = self._per_example(batch, training=True)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
        _apply(self.optimizer, tape, loss, self.network.trainable_variables)
        return {"loss": loss,
                "error": tf.nn.compute_average_loss(error, global_batch_size=self.global_batch_size)}

    def eval_step(self, batch):
        per_example, error = self._per_example(batch, training=False)
        return {"loss": tf.reduce_sum(per_example), "error": tf.reduce_sum(error),
                "count": tf.cast(tf.shape(per_example)[0], tf.float32)}

    best_metric = "loss"

    def schedule(self, val_metrics):
        """No schedule; returns None."""
        return None


TASKS = {"expert": ExpertTask, "generator": GeneratorTask, "landmarks": LandmarkTask}
