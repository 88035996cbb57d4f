"""The one block helper shared by every network: conv (+ batch norm) (+ residual) + activation.

Layer names are the PyTorch module path of the original with dots replaced by underscores
(``face_encoder_blocks.1.2.conv_block.0`` becomes ``face_encoder_blocks_1_2_conv_block_0``), so the
checkpoint converter can address every weight without a hand-written table.
"""

import keras
from keras import layers

# PyTorch BatchNorm2d defaults: eps 1e-5, momentum 0.1 (0.9 in Keras terms).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
LEAKY_SLOPE = 0.01


class Layer:
    """One row of an architecture table.

    Attributes:
      filters: output channels at width 1.0.
      kernel: square kernel size.
      stride: int or (stride_h, stride_w).
      padding: symmetric zero padding, as in PyTorch's ``padding=`` argument.
      residual: add the block input before the activation (needs filters == input channels, stride 1).
      transpose: a transposed convolution; ``output_padding`` as in PyTorch.
    """

    __slots__ = ("filters", "kernel", "stride", "padding", "residual", "transpose", "output_padding")

    def __init__(self, filters, kernel=3, stride=1, padding=1, residual=False, transpose=False,
                 output_padding=0):
        self.filters = filters
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.residual = residual
        self.transpose = transpose
        self.output_padding = output_padding


def down(filters, stride=2, residuals=0):
    """A strided 3x3 conv followed by `residuals` residual 3x3 convs (the encoders' usual stage)."""
    return (Layer(filters, 3, stride, 1),) + tuple(Layer(filters, residual=True) for _ in range(residuals))


def up(filters, residuals=2, stride=2, padding=1, output_padding=1):
    """A 3x3 transposed conv followed by `residuals` residual 3x3 convs (a decoder stage)."""
    first = Layer(filters, 3, stride, padding, transpose=True, output_padding=output_padding)
    return (first,) + tuple(Layer(filters, residual=True) for _ in range(residuals))


def scaled(filters, width):
    """Channel count at `width`: every channel count of a network scales by the same factor."""
    return max(1, int(round(filters * width)))


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def apply_block(x, spec, name, width=1.0, norm=True):
    """Applies one table row: conv -> [batch norm] -> [+ input] -> activation.

    With `norm` the activation is ReLU (the original's `Conv2d`/`Conv2dTranspose` wrappers);
    without it the activation is LeakyReLU(0.01) and there is no residual (`nonorm_Conv2d`).

    Args:
      x: NHWC tensor.
      spec: a `Layer`.
      name: the PyTorch module path of the block with '.' replaced by '_'.
      width: channel multiplier.
      norm: whether the block has batch norm.

    Returns:
      The block's output tensor.
    """
    filters = scaled(spec.filters, width)
    kernel, stride, pad = _pair(spec.kernel), _pair(spec.stride), _pair(spec.padding)
    conv_name = f"{name}_conv_block_0"
    if spec.transpose:
        y = layers.Conv2DTranspose(filters, kernel, stride, padding="valid", name=conv_name)(x)
        # PyTorch's transposed conv drops `padding` rows/cols at the start and
        # `padding - output_padding` at the end of the full (n-1)*s+k output.
        crop = (pad[0], pad[0] - spec.output_padding), (pad[1], pad[1] - spec.output_padding)
        if any(c for pair in crop for c in pair):
            y = layers.Cropping2D(crop, name=f"{name}_crop")(y)
    else:
        # PyTorch pads symmetrically; Keras 'same' does so only for stride 1 and odd kernels.
        same = stride == (1, 1) and all(p == (k - 1) // 2 and k % 2 for p, k in zip(pad, kernel))
        if not same and any(pad):
            x_pad = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        else:
            x_pad = x
        y = layers.Conv2D(filters, kernel, stride, padding="same" if same else "valid", name=conv_name)(x_pad)
    if norm:
        y = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_conv_block_1")(y)
    if spec.residual:
        y = layers.Add(name=f"{name}_add")([y, x])
    if norm:
        return layers.ReLU(name=f"{name}_act")(y)
    return layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"{name}_act")(y)


def apply_stack(x, specs, name, width=1.0, norm=True):
    """Applies a sequence of rows named `<name>_<index>` (a PyTorch nn.Sequential)."""
    for index, spec in enumerate(specs):
        x = apply_block(x, spec, f"{name}_{index}", width, norm)
    return x


@keras.saving.register_keras_serializable(package="tflipsync")
class L2Normalize(layers.Layer):
    """x / max(||x||_2, 1e-12) along the last axis, as torch.nn.functional.normalize.

    Written as sqrt(max(sum x^2, 1e-24)), the same value, so that an all-zero vector (a ReLU
    output can be one) has a finite gradient instead of the NaN of sqrt's slope at 0.
    """

    def call(self, x):
        squared = keras.ops.sum(keras.ops.square(x), axis=-1, keepdims=True)
        return x / keras.ops.sqrt(keras.ops.maximum(squared, 1e-24))


class WidthModel(keras.Model):
    """A functional model whose config is exactly its constructor arguments (width, name)."""

    def get_config(self):
        return {"width": self.width, "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
