"""The crop engine running the Keras generator (`--engine keras`)."""

from tflipsync.inference.engines.network import NetworkEngine, pad_batch
from tflipsync.inference.engines import short_description


class KerasEngine(NetworkEngine):
    """The generator in Keras; fixed batch shape so the graph is traced once."""

    def __init__(self, weights, width, batch_size):
        import tensorflow as tf

        from tflipsync.weights import bundled

        model, self.description = bundled.generator(weights, width)
        self.short_description = short_description(weights, "generator")
        self.batch_size = batch_size
        self._predict = tf.function(lambda mel, face: model([mel, face], training=False),
                                    input_signature=[tf.TensorSpec([batch_size, 80, 16, 1], tf.float32),
                                                     tf.TensorSpec([batch_size, 96, 96, 6], tf.float32)])

    def generate(self, mel, face):
        """(b, 96, 96, 3) BGR float32 from (b, 80, 16) mel windows and the (b, 96, 96, 6) network input."""
        count = len(mel)
        return self._predict(pad_batch(mel, self.batch_size)[..., None],
                             pad_batch(face, self.batch_size)).numpy()[:count]
