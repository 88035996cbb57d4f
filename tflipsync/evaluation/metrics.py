"""Image metrics: the one home of PSNR, SSIM and the temporal-consistency figures.

Images are (N, H, W, C) arrays of values in [0, 1] (BGR or RGB: the figures do not care). Two
PSNRs serve two questions:

- `pooled_psnr`: one mean squared error over the whole arrays, infinite when they are equal; how
  far an exported file's outputs are from Keras fp32 (deploy, the mixed-precision search);
- `mean_frame_psnr`: the mean over frames of each frame's PSNR, capped at PSNR_CAP so that one
  identical frame does not make the mean infinite; how close generated frames are to the truth
  (evaluation).
"""

import numpy as np

PSNR_CAP = 100.0  # dB, the PSNR of a frame equal to its truth in `mean_frame_psnr`


def pooled_psnr(a, b, peak=1.0):
    """PSNR in dB of two arrays of values in [0, peak], from one MSE over all their values.

    Args:
      a, b: arrays of the same shape.
      peak: the largest possible value.

    Returns:
      float, inf when the arrays are equal.
    """
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def mean_frame_psnr(generated, truth):
    """Mean over frames of the PSNR in dB of (N, H, W, C) images in [0, 1], each capped at PSNR_CAP."""
    diff = np.asarray(generated, np.float64) - np.asarray(truth, np.float64)
    mse = np.mean(diff.reshape(len(diff), -1) ** 2, axis=1)  # (N,)
    per_frame = np.where(mse > 0, 10.0 * np.log10(1.0 / np.maximum(mse, 1e-300)), PSNR_CAP)
    return float(np.mean(np.minimum(per_frame, PSNR_CAP)))


def ssim(generated, truth):
    """Mean over frames of tf.image.ssim (11x11 Gaussian window) of (N, H, W, C) images in [0, 1]
    (1 for identical)."""
    import tensorflow as tf

    values = tf.image.ssim(tf.constant(generated, tf.float32), tf.constant(truth, tf.float32), max_val=1.0)
    return float(np.mean(values.numpy()))


def temporal_figures(generated, truth):
    """(flicker, temporal_error) of (N, H, W, C) sequences, N >= 2.

    Flicker is the mean absolute frame-to-frame change of the generated frames minus that of the
    true frames (0: as much change as the real video, > 0: extra flicker); temporal error is the
    mean absolute difference between the two frame-to-frame changes.
    """
    g = np.diff(np.asarray(generated, np.float64), axis=0)  # (N - 1, H, W, C)
    t = np.diff(np.asarray(truth, np.float64), axis=0)
    return float(np.mean(np.abs(g)) - np.mean(np.abs(t))), float(np.mean(np.abs(g - t)))
