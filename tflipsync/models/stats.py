"""Parameter and FLOP counts of the Keras networks, for the README and the benchmarks."""

import numpy as np
from keras import layers


def trainable_parameters(model):
    """Trainable parameters (batch-norm moving statistics excluded, as PyTorch counts them)."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def flops_per_example(model):
    """Multiply-adds x 2 of every convolution for one example (batch 1); other ops are negligible.

    A Conv2D costs 2·kh·kw·cin·cout per output pixel; a Conv2DTranspose the same per input pixel.
    """
    total = 0
    for layer in model.layers:
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
