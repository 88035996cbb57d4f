"""The generator's recipe: L1, the frozen expert's sync loss and, when disc_weight > 0, a GAN.

The frozen expert runs in inference mode: its batch norm uses the moving statistics it was
trained with. The original leaves it in training mode by accident (it never calls eval()), so
there the sync loss of one sample depends on the rest of its batch and on how the batch is split
over GPUs, and every generator step rewrites the expert's statistics. With moving statistics,
the sync loss is a fixed function of the sample, the same on one device or many, and the expert
is exactly the one that was validated.
"""

import tensorflow as tf

from tflipsync import data, models
from tflipsync.training import losses, task


def image_grid(batch, generated, count=4):
    """(1, H, W, 3) RGB grid: rows of reference | masked | generated | truth (first frame)."""
    face = batch["face"][:count, 0]
    rows = [face[..., 3:6], face[..., 0:3], generated[:count, 0], batch["target"][:count, 0]]
    grid = tf.concat([tf.concat(tf.unstack(r), axis=0) for r in rows], axis=1)
    return grid[tf.newaxis, ..., ::-1]  # BGR -> RGB


class GeneratorTask(task.Task):
    """The generator against L1, the frozen expert and, when disc_weight > 0, the discriminator."""

    best_metric = "l1"

    def __init__(self, config, global_batch_size):
        super().__init__(config, global_batch_size)
        self.generator = task.trained(models.build_generator(config.width), config)
        self.expert = models.build_expert(config.width)
        if config.expert_weights:
            self.expert.load_weights(config.expert_weights)
        self.expert.trainable = False
        self.optimizer = task.adam(config)
        self.optimizer.build(self.generator.trainable_variables)
        self.discriminator = None
        if config.gan:
            self.discriminator = models.build_discriminator(config.width)
            self.disc_optimizer = task.adam(config, config.disc_learning_rate)
            self.disc_optimizer.build(self.discriminator.trainable_variables)
        # Schedule state, saved in the checkpoint: the sync weight switches on once, after an
        # evaluation whose sync loss is below config.sync_switch_below.
        self.sync_weight = tf.Variable(config.sync_weight, trainable=False, dtype=tf.float32,
                                       name="sync_weight",
                                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def dataset(self, filelist, seed, input_context=None, repeat=True):
        return data.generator_dataset(self.config.data_dir, self.config.batch_size,
                                      **self.pipeline_arguments(filelist, seed, input_context, repeat))

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
        return generate(self.generator, batch, training)

    def _losses(self, batch, generated):
        """Per-example L1, sync and (GAN) adversarial losses of generated frames."""
        out = frame_losses(self.expert, batch, generated)
        if self.discriminator is not None:
            flat = tf.reshape(generated, [-1, *generated.shape[2:]])
            judged = tf.reshape(self.discriminator(flat, training=False)[:, 0], [-1, generated.shape[1]])
            out["adversarial"] = tf.reduce_mean(losses.binary_cross_entropy(judged, tf.ones_like(judged)), axis=1)
        return out

    def train_loss(self, batch):
        """(loss, metrics, generated frames) of one replica's batch, means over the global batch."""
        s = self.sync_weight
        d = self.config.disc_weight
        generated = self.generate(batch, training=True)
        parts = self._losses(batch, generated)
        per_example = (1.0 - s - d) * parts["l1"] + s * parts["sync"]
        if self.discriminator is not None:
            per_example += d * parts["adversarial"]
        loss = task.global_mean(per_example, self)
        metrics = {"loss": loss}
        for name in ("l1", "sync", "adversarial"):
            if name in parts:
                metrics[name] = task.global_mean(parts[name], self)
        return loss, metrics, generated

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            loss, metrics, generated = self.train_loss(batch)
        task.apply_gradients(self.optimizer, tape, loss, self.generator.trainable_variables)
        if self.discriminator is not None:
            metrics.update(self._discriminator_step(batch, tf.stop_gradient(generated)))
        return metrics

    def _discriminator_step(self, batch, generated):
        real = tf.reshape(batch["target"], [-1, *batch["target"].shape[2:]])
        fake = tf.reshape(generated, [-1, *generated.shape[2:]])
        frames = batch["target"].shape[1]
        with tf.GradientTape() as tape:
            p_real = tf.reshape(self.discriminator(real, training=True)[:, 0], [-1, frames])
            p_fake = tf.reshape(self.discriminator(fake, training=True)[:, 0], [-1, frames])
            real_loss = tf.reduce_mean(losses.binary_cross_entropy(p_real, tf.ones_like(p_real)), axis=1)
            fake_loss = tf.reduce_mean(losses.binary_cross_entropy(p_fake, tf.zeros_like(p_fake)), axis=1)
            loss = task.global_mean(real_loss + fake_loss, self)
        task.apply_gradients(self.disc_optimizer, tape, loss, self.discriminator.trainable_variables)
        return {"disc_real": task.global_mean(real_loss, self), "disc_fake": task.global_mean(fake_loss, self)}

    def eval_step(self, batch):
        return evaluation_sums(self.generator, self.expert, batch)

    def schedule(self, validation):
        """Switches the sync weight on (once) when validation sync loss is low enough."""
        if (float(self.sync_weight.numpy()) == self.config.sync_weight
                and self.config.sync_weight_after_switch != self.config.sync_weight
                and validation["sync"] < self.config.sync_switch_below):
            self.sync_weight.assign(self.config.sync_weight_after_switch)
            return (f"sync weight {self.config.sync_weight:g} -> {self.config.sync_weight_after_switch:g} "
                    f"(validation sync loss {validation['sync']:.3f} < {self.config.sync_switch_below:g})")
        return None

    def summaries(self, batch, step):
        tf.summary.image("reference|masked|generated|truth",
                         image_grid(batch, self.generate(batch, training=False)), step=step)


def generate(generator, batch, training):
    """Frames (B, 5, 96, 96, 3) the generator makes for a batch of 5-frame windows."""
    face = batch["face"]
    frames = face.shape[1]
    flat_face = tf.reshape(face, [-1, *face.shape[2:]])  # (B*5, 96, 96, 6)
    flat_mel = tf.reshape(batch["mels"], [-1, *batch["mels"].shape[2:]])  # (B*5, 80, 16, 1)
    generated = generator([flat_mel, flat_face], training=training)
    return tf.reshape(tf.cast(generated, tf.float32), [-1, frames, *generated.shape[1:]])


def frame_losses(expert, batch, generated):
    """Per-example L1 to the truth and the frozen expert's sync loss and probability (B,)."""
    l1 = losses.l1(generated, batch["target"])
    sync, probability = losses.sync_loss(expert, batch["sync_mel"], losses.lower_half_stack(generated),
                                         tf.ones_like(l1), training=False)
    return {"l1": l1, "sync": sync, "sync_probability": probability}


def evaluation_sums(generator, expert, batch):
    """Sums over a batch of the generator's held-out figures and "count": L1, the expert's sync
    loss and accuracy on the generated frames, and its sync loss on the true frames ("sync_real",
    the floor the generated frames' sync loss can reach)."""
    parts = frame_losses(expert, batch, generate(generator, batch, training=False))
    out = {name: tf.reduce_sum(parts[name]) for name in ("l1", "sync")}
    out["sync_accuracy"] = tf.reduce_sum(tf.cast(parts["sync_probability"] > 0.5, tf.float32))
    real = frame_losses(expert, batch, batch["target"])["sync"]
    out["sync_real"] = tf.reduce_sum(real)
    out["count"] = tf.cast(tf.shape(parts["l1"])[0], tf.float32)
    return out
