"""Sticker files: the messenger presets, the square around the face, and the encoders that fit
a clip of 512 x 512 frames within a preset's limits (`tflipsync sticker`).

| preset | file | limits |
|---|---|---|
| telegram | WebM, VP9, no audio | 512 px side, <= 3 s, <= 256 KB, <= 30 fps |
| whatsapp | animated WebP | 512 x 512, <= 10 s, <= 500 KB |
| gif | GIF, one palette optimised over the whole clip | 512 x 512, <= 10 s, 20 fps |
| mp4 | H.264 + the speech (AAC) | 512 x 512, <= 10 s |

A file over the size limit is encoded again at a lower bit rate or quality (then fewer frames
per second) until it fits.
"""

import dataclasses
import io

import numpy as np

from tflipsync.errors import InputError

SIDE = 512


@dataclasses.dataclass(frozen=True)
class Preset:
    """A messenger's limits: the file type, the longest clip, the largest file, the highest frame rate."""
    extension: str
    max_seconds: float
    max_bytes: int  # 0: no limit
    fps: float  # highest frame rate written


PRESETS = {
    "telegram": Preset(".webm", 3.0, 256 * 1024, 30.0),
    "whatsapp": Preset(".webp", 10.0, 500 * 1024, 15.0),
    # GIF delays are whole centiseconds: 20 fps (50 ms) is exact, 15 fps would drift by 7 %
    "gif": Preset(".gif", 10.0, 0, 20.0),
    "mp4": Preset(".mp4", 10.0, 0, 30.0),
}
BY_EXTENSION = {preset.extension: name for name, preset in PRESETS.items()}


def square_box(boxes, present, size, scale=1.7):
    """A fixed square (x0, y0, x1, y1) around the main face, inside a frame of `size` (h, w).

    Centred on the median face-box centre, with sides `scale` times the median face-box side
    (at most the frame's shorter side).
    """
    height, width = size
    faces = boxes[present]
    centre_x = float(np.median((faces[:, 0] + faces[:, 2]) / 2))
    centre_y = float(np.median((faces[:, 1] + faces[:, 3]) / 2))
    side = float(np.median(np.maximum(faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]))) * scale
    side = int(round(min(side, height, width)))
    x0 = int(round(min(max(centre_x - side / 2, 0), width - side)))
    y0 = int(round(min(max(centre_y - side / 2, 0), height - side)))
    return np.array([x0, y0, x0 + side, y0 + side])


def square_crop(frame, box):
    """The `box` square of an RGB frame scaled to SIDE x SIDE (area filter down, cubic up)."""
    import cv2

    x0, y0, x1, y1 = box
    crop = frame[y0:y1, x0:x1]
    interpolation = cv2.INTER_AREA if crop.shape[0] > SIDE else cv2.INTER_CUBIC
    return cv2.resize(crop, (SIDE, SIDE), interpolation=interpolation)


def encode_webm(frames, fps, max_bytes, bit_rate=None):
    """VP9 WebM bytes without audio; `bit_rate` defaults to what fills ~90 % of `max_bytes`."""
    import av

    seconds = len(frames) / fps
    bit_rate = bit_rate or int(0.9 * max_bytes * 8 / seconds)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=_rate(fps))
        stream.width = stream.height = SIDE
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bit_rate
        # realtime speed 7: measured 0.45 s instead of 4.9 s ("good", speed 4) for a 3 s sticker,
        # 42.8 vs 43.0 dB; it overshoots the bit rate more, which fit()'s retries absorb
        stream.options = {"deadline": "realtime", "cpu-used": "7", "row-mt": "1", "maxrate": str(bit_rate),
                          "bufsize": str(bit_rate)}
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue(), bit_rate


def _rate(fps):
    import fractions
    return fractions.Fraction(fps).limit_denominator(1001)


def encode_webp(frames, fps, quality):
    from PIL import Image

    pictures = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="WEBP", save_all=True, append_images=pictures[1:],
                     duration=int(round(1000 / fps)), loop=0, quality=quality,
                     method=2)  # 0.51 instead of 1.15 CPU-seconds (method 4) for a 6 % larger file
    return buffer.getvalue()


def encode_gif(frames, fps):
    """GIF bytes with one 256-colour palette optimised over frames sampled across the clip."""
    from PIL import Image

    step = max(1, len(frames) // 16)
    sample = np.concatenate([f[::4, ::4] for f in frames[::step]], axis=0)  # a mosaic of the clip
    palette = Image.fromarray(sample).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    pictures = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=int(round(1000 / fps)), loop=0, optimize=True)
    return buffer.getvalue()


def resample(frames, fps, target_fps):
    """Frames at `target_fps` (<= fps) picked by time from frames at `fps`."""
    if target_fps >= fps:
        return frames, fps
    count = max(1, int(round(len(frames) / fps * target_fps)))
    picks = np.minimum(np.round(np.arange(count) * fps / target_fps).astype(int), len(frames) - 1)
    return [frames[i] for i in picks], target_fps


def fit(frames, fps, preset_name):
    """Encodes to the preset's format within its size limit; returns (bytes, description)."""
    preset = PRESETS[preset_name]
    if preset_name == "telegram":
        bit_rate = None
        for _ in range(6):
            data, bit_rate = encode_webm(frames, fps, preset.max_bytes, bit_rate)
            if len(data) <= preset.max_bytes:
                return data, f"VP9 at {bit_rate / 1000:.0f} kbit/s"
            bit_rate = int(bit_rate * 0.8 * preset.max_bytes / len(data))
    elif preset_name == "whatsapp":
        for rate in (fps, min(fps, 12.0), min(fps, 10.0)):
            picked, rate = resample(frames, fps, rate)
            for quality in (80, 65, 50, 35, 20):
                data = encode_webp(picked, rate, quality)
                if len(data) <= preset.max_bytes:
                    return data, f"WebP quality {quality} at {rate:g} fps"
    elif preset_name == "gif":
        return encode_gif(frames, fps), "GIF, one optimised 256-colour palette"
    raise InputError(preset_name, f"could not fit the sticker within {preset.max_bytes // 1024} KB")
