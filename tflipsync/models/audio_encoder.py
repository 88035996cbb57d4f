"""The mel-window encoder shared by the generator and the lip-sync expert."""

from tflipsync.models.blocks import Layer, down


def audio_encoder_spec(residuals_at_256):
    """Rows of the audio encoder (input (80, 16, 1): mel bins x time steps x 1).

    Args:
      residuals_at_256: residual layers after the 256-channel conv: 1 in the generator, 2 in the
        expert; nothing else differs.

    Returns:
      A tuple of `Layer` rows; the output is (1, 1, 512) at width 1.0.
    """
    return (
        (Layer(32, 3, 1, 1),) + (Layer(32, residual=True),) * 2
        + down(64, (3, 1), 2)      # 80x16 -> 27x16
        + down(128, 3, 2)          # -> 9x6
        + down(256, (3, 2), residuals_at_256)  # -> 3x3
        + (Layer(512, 3, 1, 0),    # -> 1x1
           Layer(512, 1, 1, 0))
    )
