"""The landmark LSTM's recipe: L2 on the PCA coefficients of the mouth motion at the steps with a face.

The PCA basis and the canonical rest mouth are fitted on the training split when the task is
made and stored in the network (`MouthBasis`), so checkpoints and weight files carry them.
The targets are projected on the basis here; the network's delay pairs output t with the
target of step t - delay.
"""

import tensorflow as tf

from tflipsync import data
from tflipsync.training import task


class LandmarkTask(task.Task):
    """Trains the landmark LSTM; validation: coefficient loss and point error over mouth width."""

    def __init__(self, config, global_batch_size):
        from tflipsync.data.landmarks import fit_basis
        from tflipsync.models import landmarks as landmark_models

        super().__init__(config, global_batch_size)
        if config.bidirectional:
            network = landmark_models.build_bidirectional_lstm(config.units, config.pca_dims)
        else:
            network = landmark_models.build_landmark_lstm(config.delay, config.units, config.pca_dims)
        network.basis.set_basis(*fit_basis(config.data_dir, config.train_list, config.pca_dims))
        self.network = task.trained(network, config)
        self.optimizer = task.adam(config)
        self.optimizer.build(self.network.trainable_variables)

    def dataset(self, filelist, seed, input_context=None, repeat=True):
        return data.landmark_dataset(self.config.data_dir, self.config.batch_size,
                                     sequence_steps=self.config.sequence_steps,
                                     **self.pipeline_arguments(filelist, seed, input_context, repeat))

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
            loss = task.global_mean(per_example, self)
        task.apply_gradients(self.optimizer, tape, loss, self.network.trainable_variables)
        return {"loss": loss, "error": task.global_mean(error, self)}

    def eval_step(self, batch):
        per_example, error = self._per_example(batch, training=False)
        return {"loss": tf.reduce_sum(per_example), "error": tf.reduce_sum(error),
                "count": tf.cast(tf.shape(per_example)[0], tf.float32)}
