"""An inference graph of a trained network for export: batch norm folded, skip concatenations split.

The Keras generator concatenates each decoder stage's output with an encoder skip and feeds the
result to one convolution. TFLite's int8 CONCATENATION requires its inputs to share one scale, so
calibration gives the first encoder layer (values up to about 5) the scale of the last decoder
stage (values up to a few hundred on some inputs): measured on the embedded model, that layer came
out of int8 with a 26 % mean error and the whole generator at 20.7 dB PSNR against fp32, and
keeping the concatenations in float does not help (the shared scale is fixed at calibration).

Here a convolution of a concatenation is written as the sum of one convolution per part, with the
kernel split along its input channels: the same function (a convolution is linear in its input),
but every part keeps its own quantisation scale and the sum is an int8 ADD, which rescales its
inputs. Batch norm is folded into the convolution before it, so the graph holds only constants
and is the same function as the Keras model in inference mode (tested to float rounding).
"""

import numpy as np
import tensorflow as tf
from keras import layers



def _folded(conv, norm):
    """(kernel, bias) of `conv` with the batch norm `norm` (or None) folded in, as numpy arrays."""
    kernel = conv.kernel.numpy()
    bias = conv.bias.numpy() if conv.use_bias else np.zeros(conv.filters, np.float32)
    if norm is None:
        return kernel, bias
    scale = norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)
    out_axis = 2 if isinstance(conv, layers.Conv2DTranspose) else 3
    shape = [1, 1, 1, 1]
    shape[out_axis] = -1
    kernel = kernel * scale.reshape(shape)
    bias = (bias - norm.moving_mean.numpy()) * scale + norm.beta.numpy()
    return kernel.astype(np.float32), bias.astype(np.float32)


def _conv(parts, conv, kernel, bias):
    """Applies `conv`'s configuration with `kernel` to a list of input parts, summing per part."""
    total, start = None, 0
    transpose = isinstance(conv, layers.Conv2DTranspose)
    for part in parts:
        channels = part.shape[-1]
        if transpose:
            piece = kernel[:, :, :, start:start + channels]  # (kh, kw, out, in)
            height, width = part.shape[1:3]
            (kh, kw), (sh, sw) = conv.kernel_size, conv.strides
            out_shape = [tf.shape(part)[0], (height - 1) * sh + kh, (width - 1) * sw + kw, kernel.shape[2]]
            y = tf.nn.conv2d_transpose(part, tf.constant(piece), out_shape, conv.strides, padding="VALID")
        else:
            piece = kernel[:, :, start:start + channels, :]  # (kh, kw, in, out)
            y = tf.nn.conv2d(part, tf.constant(piece), conv.strides, padding=conv.padding.upper())
        total = y if total is None else total + y
        start += channels
    if start != kernel.shape[2 if not transpose else 3]:
        raise ValueError(f"{conv.name}: parts have {start} channels, the kernel expects another count")
    return tf.nn.bias_add(total, tf.constant(bias))


def inference_function(model):
    """A function of the model's inputs computing `model(inputs, training=False)` from constants.

    Args:
      model: a functional Keras network built from tflipsync.models.blocks (generator or expert).

    Returns:
      fn(*inputs) -> output tensor or list of output tensors, usable inside a tf.function.
    """
    folded = {}  # conv layer name -> the batch norm after it (a transposed conv's is after its crop)
    for op in model.operations:
        if isinstance(op, layers.BatchNormalization):
            before = op._inbound_nodes[0].input_tensors[0]._keras_history.operation
            if isinstance(before, layers.Cropping2D):  # per-channel affine maps commute with cropping
                before = before._inbound_nodes[0].input_tensors[0]._keras_history.operation
            if not isinstance(before, (layers.Conv2D, layers.Conv2DTranspose)):
                raise ValueError(f"{op.name}: batch norm not after a convolution")
            folded[before.name] = op
    weights = {op.name: _folded(op, folded.get(op.name)) for op in model.operations
               if isinstance(op, (layers.Conv2D, layers.Conv2DTranspose))}  # numpy, read eagerly here

    def run(*inputs):
        values = {}  # id(KerasTensor) -> list of tensor parts (a concatenation is kept as its parts)
        for keras_input, value in zip(model.inputs, inputs):
            values[id(keras_input)] = [value]
        for op in model.operations:
            if isinstance(op, layers.InputLayer):
                continue
            node = op._inbound_nodes[0]
            args = [values[id(t)] for t in node.input_tensors]
            with tf.name_scope(op.name):  # ops keep their layer's name (used to pick float layers)
                if isinstance(op, (layers.Conv2D, layers.Conv2DTranspose)):
                    out = [_conv(args[0], op, *weights[op.name])]
                elif isinstance(op, layers.BatchNormalization):
                    out = args[0]  # folded into the convolution before it
                elif isinstance(op, layers.Concatenate):
                    out = [part for parts in args for part in parts]
                else:
                    joined = [parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1) for parts in args]
                    out = [op(joined if len(joined) > 1 else joined[0])]
            for tensor in node.output_tensors:
                values[id(tensor)] = out
        results = [values[id(t)] for t in model.outputs]
        results = [parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1) for parts in results]
        return results[0] if len(results) == 1 else results

    return run
