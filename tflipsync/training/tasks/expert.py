"""The lip-sync expert's recipe: BCE on the cosine of the audio and face embeddings."""

import tensorflow as tf

from tflipsync import data, models
from tflipsync.training import losses, task


def accuracy_count(probability, label):
    """Samples (scalar) whose in-sync decision (probability > 0.5) matches the label."""
    return tf.reduce_sum(tf.cast(tf.equal(probability > 0.5, label > 0.5), tf.float32))


class ExpertTask(task.Task):
    """Trains the expert; validation: loss and accuracy over held-out windows."""

    def __init__(self, config, global_batch_size):
        super().__init__(config, global_batch_size)
        self.expert = task.trained(models.build_expert(config.width), config)
        self.optimizer = task.adam(config)
        self.optimizer.build(self.expert.trainable_variables)

    def dataset(self, filelist, seed, input_context=None, repeat=True):
        return data.expert_dataset(self.config.data_dir, self.config.batch_size,
                                   hard_negative_prob=self.config.hard_negative_prob,
                                   **self.pipeline_arguments(filelist, seed, input_context, repeat))

    def weights(self):
        return {"expert": self.expert}

    def train_loss(self, batch):
        """(loss, metrics) of one replica's batch, means over the global batch."""
        per_example, probability = losses.sync_loss(
            self.expert, batch["mel"], batch["face"], batch["label"], training=True)
        loss = task.global_mean(per_example, self)
        return loss, {"loss": loss,
                      "accuracy": accuracy_count(probability, batch["label"]) / self.global_batch_size}

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            loss, metrics = self.train_loss(batch)
        task.apply_gradients(self.optimizer, tape, loss, self.expert.trainable_variables)
        return metrics

    def eval_step(self, batch):
        return evaluation_sums(self.expert, batch)


def evaluation_sums(expert, batch):
    """Sums over a batch of the expert's held-out figures (loss, accuracy, positives) and "count"."""
    per_example, probability = losses.sync_loss(expert, batch["mel"], batch["face"], batch["label"], training=False)
    return {"loss": tf.reduce_sum(per_example), "accuracy": accuracy_count(probability, batch["label"]),
            "positives": tf.reduce_sum(batch["label"]), "count": tf.cast(tf.shape(per_example)[0], tf.float32)}
