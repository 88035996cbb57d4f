"""Keras networks: the Wav2Lip family (NHWC, BGR images in [0, 1]) and the landmark LSTM (`landmarks`)."""

from tflipsync.models import landmarks
from tflipsync.models.discriminator import Discriminator, build_discriminator
from tflipsync.models.expert import Expert, build_expert, sync_probability
from tflipsync.models.generator import Generator, build_generator

BUILDERS = {
    "generator": build_generator,
    "expert": build_expert,
    "discriminator": build_discriminator,
}


def build(kind, width=1.0):
    """Builds the network named `kind` ('generator', 'expert' or 'discriminator')."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(BUILDERS)}")
    return BUILDERS[kind](width)
