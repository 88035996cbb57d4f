"""`tflipsync export landmarks`: the landmark LSTM as a streaming .tflite, one step per call.

    tflipsync export landmarks --out landmarks.tflite [--weights RUN/best/landmarks.weights.h5]

The file has one signature, "step": mel (1, 80) float32, one normalised mel column (80 per
second, `tflipsync.landmarks.mouth.mel_steps`), and state (1, 2 * units) float32, the LSTM's [h, c]
(zeros at the start of a stream), in; points (1, K, 2) float32, normalised mouth points
(`tflipsync.landmarks.mouth.normalise`), and the next state, out. The cell is written out with
builtin ops (FULLY_CONNECTED, LOGISTIC, TANH, MUL, ADD, SPLIT, CONCATENATION); the PCA
reconstruction and the canonical rest mouth are folded into the output layer, so a call returns
points, not coefficients.

Latency: the network is the time-delayed LSTM, so the points returned by step t are the mouth of
step t - delay (delay x 12.5 ms earlier). A stream drops the first `delay` outputs and, at its
end, feeds `delay` steps of silence (`tflipsync.landmarks.mouth.SILENCE` in every bin) to flush the last
mouths; `stream` does exactly that. Without --weights the embedded landmark model is exported.
"""

import numpy as np

from tflipsync.errors import InputError

SIGNATURE = "step"


def step_module(network):
    """A tf.Module whose `step` runs one step of a unidirectional `LandmarkLSTM` (constants)."""
    import tensorflow as tf

    if network.bidirectional:
        raise ValueError("a bidirectional LSTM needs the whole sequence; it has no streaming form")
    lstm = network.get_layer("lstm")
    kernel, recurrent, bias = (w.numpy() for w in lstm.weights)  # gates i, f, c, o (Keras order)
    dense_kernel, dense_bias = (w.numpy() for w in network.get_layer("coefficients").weights)
    basis = network.basis
    components, mean, rest = basis.components.numpy(), basis.mean.numpy(), basis.rest.numpy()
    units = network.units
    gates = tf.constant(np.concatenate([kernel, recurrent], axis=0))  # (80 + U, 4U)
    gate_bias = tf.constant(bias)
    # rest + mean + coefficients @ components folded into one layer: h -> flat points (K * 2)
    output_kernel = tf.constant(dense_kernel @ components)  # (U, K * 2)
    output_bias = tf.constant(dense_bias @ components + mean + rest)
    points = network.points

    def step(mel, state):
        h, c = tf.split(state, 2, axis=1)  # (1, U) each
        z = tf.matmul(tf.concat([mel, h], axis=1), gates) + gate_bias  # (1, 4U)
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        flat = tf.matmul(h, output_kernel) + output_bias  # (1, K * 2)
        return {"points": tf.reshape(flat, [1, points, 2]), "state": tf.concat([h, c], axis=1)}

    module = tf.Module()
    module.step = tf.function(step, input_signature=[
        tf.TensorSpec([1, 80], tf.float32, name="mel"),
        tf.TensorSpec([1, 2 * units], tf.float32, name="state")])
    module.units, module.delay = units, network.delay
    return module


def convert(network):
    """The streaming .tflite bytes of a unidirectional `LandmarkLSTM` (builtin ops only; a graph
    that would need TensorFlow ops fails to convert)."""
    from tflipsync.deploy import runtime, tflite

    module = step_module(network)
    with runtime.quiet_warnings(), tflite.saved_model_converter(module, {SIGNATURE: module.step}) as converter:
        return converter.convert()


class Stream:
    """Step-by-step inference with a streaming .tflite: push mel columns, get mouth points.

    `push(mel)` returns the points that became ready (none for the first `delay` columns, then
    one per column); `finish()` feeds `delay` columns of silence and returns the last ones. The
    points of all calls together are the mouths of steps 0, 1, ... of the pushed columns.
    """

    def __init__(self, content, delay, threads=1, runtime="tf"):
        from tflipsync.deploy.runtime import interpreter

        self._runner = interpreter(content, threads, runtime).get_signature_runner(SIGNATURE)
        self.state_size = int(self._runner.get_input_details()["state"]["shape"][1])
        self.points = int(self._runner.get_output_details()["points"]["shape"][1])
        self.delay = int(delay)
        self.reset()

    def reset(self):
        self._state = np.zeros((1, self.state_size), np.float32)
        self._seen = 0

    def step(self, column):
        """One mel column (80,) in; the raw output (K, 2), the mouth of `delay` steps earlier."""
        result = self._runner(mel=np.asarray(column, np.float32).reshape(1, -1), state=self._state)
        self._state = result["state"]
        self._seen += 1
        return result["points"][0]

    def push(self, mel):
        """Columns (M, 80) in; the points (R, K, 2) that are ready."""
        out = []
        for column in np.asarray(mel, np.float32):
            points = self.step(column)
            if self._seen > self.delay:
                out.append(points)
        return np.stack(out) if out else np.zeros((0, self.points, 2), np.float32)

    def finish(self):
        """Flushes the last `delay` mouths with silence; returns them (delay, K, 2)."""
        from tflipsync.landmarks.mouth import SILENCE

        return self.push(np.full((self.delay, 80), SILENCE, np.float32))


def stream(content, delay, mel, threads=1, runtime="tf"):
    """Points (M, K, 2) of every step of mel (M, 80), run one step per call."""
    runner = Stream(content, delay, threads, runtime)
    return np.concatenate([runner.push(mel), runner.finish()])


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    flags.DEFINE_string("weights", None, "landmarks .weights.h5 of a train.py run (its flags.txt "
                        "gives the architecture); default: the embedded landmark model", **fv)
    flags.DEFINE_string("out", None, "the .tflite file to write", **fv)


def run(f):
    from tflipsync import files
    from tflipsync.landmarks import mouth as mouth_points, predictor as landmark_predictor

    if not f.out:
        raise InputError("--out", "is required")
    network, description = landmark_predictor.load_network(f.weights)
    if network.bidirectional:
        raise InputError(f.weights, "a bidirectional LSTM has no streaming form")
    content = convert(network)
    files.write_bytes(f.out, content)
    print(f"{f.out}: {len(content):,} bytes, signature '{SIGNATURE}' (mel (1, 80), state "
          f"(1, {2 * network.units})) -> points (1, {network.points}, 2), delay {network.delay} "
          f"steps ({network.delay * 1000 / mouth_points.STEP_RATE:g} ms); {description}")
    return 0
