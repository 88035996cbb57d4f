"""The Wav2Lip generator: face encoder with skips, audio encoder, face decoder."""

import keras
from keras import layers

from tflipsync.models.audio_encoder import audio_encoder_spec
from tflipsync.models.blocks import Layer, WidthModel, apply_block, apply_stack, down, up
from tflipsync.conventions import FACE_SIZE


# Each entry is one block of `face_encoder_blocks`; every block's output is kept as a skip.
FACE_ENCODER = (
    (Layer(16, 7, 1, 3),),
    down(32, 2, 2),    # 48x48
    down(64, 2, 3),    # 24x24
    down(128, 2, 2),   # 12x12
    down(256, 2, 2),   # 6x6
    down(512, 2, 1),   # 3x3
    (Layer(512, 3, 1, 0), Layer(512, 1, 1, 0)),  # 1x1
)

# Decoder block k is concatenated, [decoder output, skip], with encoder block 6 - k.
FACE_DECODER = (
    (Layer(512, 1, 1, 0),),                               # 1x1
    up(512, residuals=1, stride=1, padding=0, output_padding=0),  # 3x3
    up(512),   # 6x6
    up(384),   # 12x12
    up(256),   # 24x24
    up(128),   # 48x48
    up(64),    # 96x96
)

AUDIO_ENCODER = audio_encoder_spec(residuals_at_256=1)


@keras.saving.register_keras_serializable(package="tflipsync")
class Generator(WidthModel):
    """Wav2Lip generator.

    Inputs, in this order:
      mel: (B, 80, 16, 1) normalised mel window (bins x time).
      face: (B, 96, 96, 6) BGR in [0, 1]: the target with rows 48..95 zeroed, then the reference.
    Output:
      (B, 96, 96, 3) BGR face in [0, 1].
    """

    def __init__(self, width=1.0, name="generator", **kwargs):
        mel = keras.Input((80, 16, 1), name="mel")
        face = keras.Input((FACE_SIZE, FACE_SIZE, 6), name="face")

        skips = []
        x = face
        for index, block in enumerate(FACE_ENCODER):
            x = apply_stack(x, block, f"face_encoder_blocks_{index}", width)
            skips.append(x)

        x = apply_stack(mel, AUDIO_ENCODER, "audio_encoder", width)
        for index, block in enumerate(FACE_DECODER):
            x = apply_stack(x, block, f"face_decoder_blocks_{index}", width)
            x = layers.Concatenate(name=f"face_decoder_blocks_{index}_concat")([x, skips.pop()])

        x = apply_block(x, Layer(32, 3, 1, 1), "output_block_0", width)
        x = layers.Conv2D(3, 1, name="output_block_1")(x)
        image = layers.Activation("sigmoid", dtype="float32", name="output_block_2")(x)

        super().__init__(inputs=[mel, face], outputs=image, name=name, **kwargs)
        self.width = width


def build_generator(width=1.0):
    """Builds the generator; see `Generator`. `width` scales every channel count."""
    return Generator(width=width)
