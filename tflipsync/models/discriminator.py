"""The visual-quality discriminator: judges the lower half of single generated faces."""

import keras
from keras import layers

from tflipsync.models.blocks import Layer, WidthModel, apply_stack


def _pair(filters, kernel, stride, padding):
    """A strided conv and a same-size conv of the same width."""
    return (Layer(filters, kernel, stride, padding), Layer(filters, kernel, 1, padding))


FACE_ENCODER = (
    (Layer(32, 7, 1, 3),),          # 48x96
    _pair(64, 5, (1, 2), 2),        # 48x48
    _pair(128, 5, 2, 2),            # 24x24
    _pair(256, 5, 2, 2),            # 12x12
    _pair(512, 3, 2, 1),            # 6x6
    _pair(512, 3, 2, 1),            # 3x3
    (Layer(512, 3, 1, 0), Layer(512, 1, 1, 0)),  # 1x1
)


@keras.saving.register_keras_serializable(package="tflipsync")
class Discriminator(WidthModel):
    """Wav2Lip's visual-quality discriminator (no batch norm, LeakyReLU 0.01).

    Input:
      face: (B, 96, 96, 3) full BGR face in [0, 1]; the network keeps rows 48..95 itself.
    Output:
      (B, 1) probability that the face is real.
    """

    def __init__(self, width=1.0, name="discriminator", **kwargs):
        face = keras.Input((96, 96, 3), name="face")
        x = layers.Cropping2D(((48, 0), (0, 0)), name="lower_half")(face)
        for index, block in enumerate(FACE_ENCODER):
            x = apply_stack(x, block, f"face_encoder_blocks_{index}", width, norm=False)
        x = layers.Conv2D(1, 1, name="binary_pred_0")(x)
        x = layers.Activation("sigmoid", dtype="float32", name="binary_pred_1")(x)
        # (B, 1, 1, 1) -> (B, 1)
        x = layers.Reshape((1,), name="prediction")(x)
        super().__init__(inputs=face, outputs=x, name=name, **kwargs)
        self.width = width


def build_discriminator(width=1.0):
    """Builds the discriminator; see `Discriminator`. `width` scales every channel count."""
    return Discriminator(width=width)
