"""The lip-sync expert (SyncNet_color): audio and lower-face embeddings compared by cosine."""

import keras

from tflipsync.models.audio_encoder import audio_encoder_spec
from tflipsync.models.blocks import L2Normalize, Layer, WidthModel, apply_stack, down
from tflipsync.conventions import SYNC_FRAMES


FACE_ENCODER = (
    (Layer(32, 7, 1, 3),
     Layer(64, 5, (1, 2), 1),   # padding 1, not 2: 48x96 -> 46x47
     Layer(64, residual=True), Layer(64, residual=True))
    + down(128, 2, 3)   # 23x24
    + down(256, 2, 2)   # 12x12
    + down(512, 2, 2)   # 6x6
    + down(512, 2, 0)   # 3x3
    + (Layer(512, 3, 1, 0), Layer(512, 1, 1, 0))  # 1x1
)

AUDIO_ENCODER = audio_encoder_spec(residuals_at_256=2)


@keras.saving.register_keras_serializable(package="tflipsync")
class Expert(WidthModel):
    """The lip-sync expert.

    Inputs, in this order:
      mel: (B, 80, 16, 1) normalised mel window covering the 5 frames.
      face: (B, 48, 96, 15) lower halves (rows 48..95) of 5 consecutive BGR frames in [0, 1],
        stacked frame-major on channels ([f0 B, G, R, f1 B, G, R, ...]).
    Outputs:
      audio_embedding, face_embedding: each (B, 512 * width), L2-normalised and non-negative
      (they come out of a ReLU), so their dot product is a cosine in [0, 1].
    """

    def __init__(self, width=1.0, name="expert", **kwargs):
        mel = keras.Input((80, 16, 1), name="mel")
        face = keras.Input((48, 96, 3 * SYNC_FRAMES), name="face")
        audio = apply_stack(mel, AUDIO_ENCODER, "audio_encoder", width)
        video = apply_stack(face, FACE_ENCODER, "face_encoder", width)
        # (B, 1, 1, C) -> (B, C)
        audio = keras.layers.Flatten(name="audio_flatten")(audio)
        video = keras.layers.Flatten(name="face_flatten")(video)
        audio = L2Normalize(dtype="float32", name="audio_embedding")(audio)
        video = L2Normalize(dtype="float32", name="face_embedding")(video)
        super().__init__(inputs=[mel, face], outputs=[audio, video], name=name, **kwargs)
        self.width = width


def build_expert(width=1.0):
    """Builds the lip-sync expert; see `Expert`. `width` scales every channel count."""
    return Expert(width=width)


def sync_probability(audio_embedding, face_embedding):
    """Cosine of two L2-normalised embeddings, the expert's in-sync probability. Shapes (B, C) -> (B,)."""
    return keras.ops.sum(audio_embedding * face_embedding, axis=-1)
