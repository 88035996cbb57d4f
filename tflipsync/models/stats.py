"""Parameter and FLOP counts of the Keras networks, for the README, the benchmarks and the
mixed-precision search (which tries the cheapest layers first)."""

import numpy as np
from keras import layers


def trainable_parameters(model):
    """Trainable parameters (batch-norm moving statistics excluded, as PyTorch counts them)."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def flops_per_example(model, prefix=None):
    """Multiply-adds x 2 of the convolutions for one example (batch 1); other ops are negligible.

    A Conv2D costs 2·kh·kw·cin·cout per output pixel; a Conv2DTranspose the same per input pixel.

    Args:
      model: a Keras network.
      prefix: count only the layers named `prefix_...` (a stage such as "face_decoder_blocks_6",
        or one layer of it, "face_decoder_blocks_6_0"); None: the whole network.

    Returns:
      int.
    """
    total = 0
    for layer in model.layers:
        if prefix is not None and not layer.name.startswith(prefix + "_"):
            continue
        if isinstance(layer, layers.Conv2DTranspose):
            _, h, w, cin = layer.input.shape
        elif isinstance(layer, layers.Conv2D):
            _, h, w, _ = layer.output.shape
            cin = layer.input.shape[-1]
        else:
            continue
        kh, kw = layer.kernel_size
        total += 2 * kh * kw * cin * layer.filters * h * w
    return total
