"""Small media files for tests: videos written with PyAV, speech from espeak-ng."""

import fractions
import os
import shutil
import subprocess

import av
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def espeak(path, text, voice="en", rate=160, pitch=50):
    """Writes espeak-ng speech to a wav file (22,050 Hz) and returns the path."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: `apt-get install espeak-ng` (make test does it)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(path), text],
                   check=True, capture_output=True)
    return path


def write_video(path, frames, fps=25, audio=None, sample_rate=16000, video=True, times_ms=None, rotation=0):
    """Writes an mp4 (H.264 + AAC) from RGB uint8 frames and float mono audio.

    Args:
        path: output file.
        frames: iterable of (H, W, 3) uint8 RGB frames (even H and W), or [] for a video stream
            without frames.
        fps: frame rate (int or fractions-compatible).
        audio: float32 (N,) mono samples in [-1, 1], or None for no audio stream.
        sample_rate: rate of `audio`.
        video: False writes an audio-only file.
        times_ms: per-frame presentation times in milliseconds, for a variable frame rate video.
        rotation: display rotation metadata in degrees, counter-clockwise (as phones write it).
    """
    frames = list(frames) if video else []
    with av.open(str(path), mode="w") as container:
        vstream = None
        if video:
            vstream = container.add_stream("libx264", rate=fps)
            height, width = (frames[0].shape[:2] if frames else (64, 64))
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.options = {"crf": "20", "preset": "veryfast"}
            if rotation:
                vstream.set_display_rotation(rotation)
            if times_ms is not None:
                vstream.codec_context.time_base = fractions.Fraction(1, 1000)
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=sample_rate, layout="mono")
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            if times_ms is not None:
                picture.pts, picture.time_base = int(times_ms[i]), fractions.Fraction(1, 1000)
            for packet in vstream.encode(picture):
                container.mux(packet)
        if vstream is not None and frames:
            for packet in vstream.encode():
                container.mux(packet)
        if astream is not None:
            samples = np.asarray(audio, dtype=np.float32)[None]
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + chunk]),
                                                   format="fltp", layout="mono")
                piece.sample_rate = sample_rate
                piece.pts = start
                for packet in astream.encode(piece):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    return path


def astronaut_frames(count, size=(360, 640), drift=1.0):
    """RGB frames of scikit-image's astronaut photo on a grey canvas, drifting slowly sideways."""
    from skimage import data

    photo = data.astronaut()[40:400, 60:460]  # head and shoulders, 360 x 400
    height, width = size
    frames = []
    for i in range(count):
        canvas = np.full((height, width, 3), 90, np.uint8)
        x = int(round(100 + drift * np.sin(i / 7.0) * 10))
        canvas[:, x:x + photo.shape[1]] = photo[:height]
        frames.append(canvas)
    return frames


def pasted_faces(size, share, centres, background=150):
    """A plain frame of `size` (H, W) with the bundled photo's face (rows 20-260, cols 120-330 of
    examples/astronaut.jpg) pasted at each (x, y) centre, `share` of the frame's width wide.

    Returns:
        (RGB uint8 frame, list of the pasted regions (x0, y0, x1, y1)).
    """
    import cv2

    photo = cv2.imread(os.path.join(ROOT, "examples", "astronaut.jpg"))[20:260, 120:330, ::-1]
    height, width = size
    w = int(share * width)
    h = int(round(w * photo.shape[0] / photo.shape[1]))
    face = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), background, np.uint8)
    regions = []
    for cx, cy in centres:
        x, y = int(cx - w / 2), int(cy - h / 2)
        frame[y:y + h, x:x + w] = face
        regions.append((x, y, x + w, y + h))
    return frame, regions
