"""Imports official Wav2Lip checkpoints (PyTorch state dicts) into the Keras networks.

Keras layer names are the PyTorch module paths with '.' replaced by '_' (see `models/blocks.py`),
so every checkpoint key maps to a layer by name and the check for missing, unexpected and
mis-shaped keys is exact.

    python -m tflipsync.weights.convert --checkpoint wav2lip.pth --model generator --out wav2lip.weights.h5
"""

import os
import re
import sys

import numpy as np

from tflipsync import files
from tflipsync.weights.checkpoint import read_state_dict
from tflipsync.errors import InputError

KINDS = ("generator", "expert", "discriminator")

# The first conv of each network: its output channels divided by these give the width.
_FIRST_CONV = {
    "generator": ("face_encoder_blocks.0.0.conv_block.0.weight", 16),
    "expert": ("face_encoder.0.conv_block.0.weight", 32),
    "discriminator": ("face_encoder_blocks.0.0.conv_block.0.weight", 32),
}
_CONV_PARAMS = ("weight", "bias")
_BN_PARAMS = ("weight", "bias", "running_mean", "running_var")


def torch_path(layer_name):
    """`face_encoder_blocks_1_2_conv_block_0` -> `face_encoder_blocks.1.2.conv_block.0`."""
    return re.sub(r"_(?=\d)|(?<=\d)_", ".", layer_name)


def guess_kind(state):
    """Names the network a state dict belongs to, from keys only one of them has."""
    if any(k.startswith("face_decoder_blocks.") for k in state):
        return "generator"
    if any(k.startswith("binary_pred.") for k in state):
        return "discriminator"
    if any(k.startswith("face_encoder.") for k in state) and any(k.startswith("audio_encoder.") for k in state):
        return "expert"
    return None


def _width(state, kind, source):
    key, base = _FIRST_CONV[kind]
    if key not in state:
        raise InputError(source, f"missing key {key}")
    return state[key].shape[0] / base


def _expected_keys(model):
    """Maps each PyTorch key the model needs to (layer, index in layer.weights, is_kernel)."""
    expected = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        path = torch_path(layer.name)
        params = _BN_PARAMS if len(layer.weights) == 4 else _CONV_PARAMS
        for index, param in enumerate(params):
            expected[f"{path}.{param}"] = (layer, index, param == "weight" and len(params) == 2)
    return expected


def load_state_dict(model, state, source="state_dict"):
    """Copies a PyTorch state dict (numpy arrays, `module.` already stripped) into `model`.

    Conv kernels go from (out, in, kh, kw), and transposed-conv kernels from (in, out, kh, kw),
    to Keras' (kh, kw, in, out) and (kh, kw, out, in): the same axis permutation (2, 3, 1, 0).

    Raises:
      InputError: naming the first missing, unexpected or mis-shaped key.
    """
    expected = _expected_keys(model)
    for key in state:
        if key in expected:
            continue
        if key.endswith(".num_batches_tracked") and key.replace("num_batches_tracked", "running_mean") in expected:
            continue
        raise InputError(source, f"unexpected key {key} for the {model.name}")
    values = {}
    for key, (layer, index, is_kernel) in expected.items():
        if key not in state:
            raise InputError(source, f"missing key {key} for the {model.name}")
        array = np.asarray(state[key], np.float32)
        if is_kernel:
            array = array.transpose(2, 3, 1, 0)
        target = tuple(layer.weights[index].shape)
        if array.shape != target:
            torch_shape = tuple(state[key].shape)
            raise InputError(source, f"shape mismatch for {key}: checkpoint {torch_shape}, "
                                     f"model expects {target} in Keras layout")
        values.setdefault(layer.name, [None] * len(layer.weights))[index] = array
    for layer in model.layers:
        if layer.name in values:
            layer.set_weights(values[layer.name])


def convert_checkpoint(checkpoint, kind, out, width=None):
    """Converts a Wav2Lip checkpoint to a Keras `.weights.h5` file, written atomically.

    Args:
      checkpoint: the `.pth` file.
      kind: 'generator', 'expert' or 'discriminator'.
      out: destination ending in `.weights.h5`; loads with `build_<kind>(width).load_weights(out)`.
      width: channel multiplier; None reads it from the checkpoint (1.0 for official files).

    Returns:
      A dict describing the conversion (kind, width, parameter count, step).
    """
    from tflipsync import models  # TensorFlow is imported only once the inputs are known good.

    if kind not in KINDS:
        raise InputError(kind, f"unknown model kind; expected one of {', '.join(KINDS)}")
    out = os.fspath(out)
    if not out.endswith(".weights.h5"):
        raise InputError(out, "the output name must end in .weights.h5")
    if os.path.abspath(out) == os.path.abspath(checkpoint):
        raise InputError(out, "the output would overwrite the checkpoint")
    state, info = read_state_dict(checkpoint)
    found = guess_kind(state)
    if found is not None and found != kind:
        raise InputError(checkpoint, f"this is a {found} checkpoint, not a {kind} "
                                     f"(use --model {found})")
    if width is None:
        width = _width(state, kind, checkpoint)
    model = models.build(kind, width)
    load_state_dict(model, state, checkpoint)

    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise InputError(out, "the output directory does not exist")
    with files.atomic_path(out) as temporary:
        model.save_weights(temporary)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"kind": kind, "width": width, "parameters": trainable, "tensors": len(state),
            "global_step": info.get("global_step"), "out": out}


def define_flags(flag_values):
    from absl import flags

    flags.DEFINE_string("checkpoint", None, "Wav2Lip checkpoint (.pth).", flag_values=flag_values)
    flags.DEFINE_enum("model", None, list(KINDS), "Which network the checkpoint holds.",
                      flag_values=flag_values)
    flags.DEFINE_string("out", None, "Output file, ending in .weights.h5.", flag_values=flag_values)
    flags.DEFINE_float("width", None, "Channel multiplier; default: read from the checkpoint.",
                       flag_values=flag_values)
    for name in ("checkpoint", "model", "out"):
        flags.mark_flag_as_required(name, flag_values=flag_values)


def run(flag_values):
    result = convert_checkpoint(flag_values.checkpoint, flag_values.model, flag_values.out, flag_values.width)
    print(f"wrote {result['out']}: {result['kind']} at width {result['width']:g}, "
          f"{result['parameters']:,} parameters from {result['tensors']} tensors"
          + (f", global_step {result['global_step']}" if result["global_step"] is not None else ""))


if __name__ == "__main__":
    from tflipsync.cli import run_command

    sys.exit(run_command("convert", sys.argv[1:]))
