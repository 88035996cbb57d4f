"""Video decoding with PyAV: frames one at a time (never a whole video in memory) with times.

Frame times follow the original's convention where it is well defined: for a constant frame rate
video, frame i is at i / fps seconds, so `int(80 * t)` equals `audio.windows.mel_start(i, fps)`. A video
whose presentation timestamps stray from that grid by a quarter of a frame or more is variable frame
rate, and its frames are timed by their timestamps relative to the audio stream's start.
"""

import dataclasses

import av
import numpy as np

from tflipsync.errors import InputError, require_file

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".ts")


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video's first video stream."""
    fps: float
    width: int
    height: int
    frames: int  # the container's frame count; 0 when it does not say
    has_audio: bool
    start: float  # video stream start time in seconds
    audio_start: float  # audio stream start time in seconds (0 when there is no audio)


def _reason(err):
    return getattr(err, "strerror", None) or type(err).__name__


def _open(path):
    path = require_file(path, "a video file")
    try:
        container = av.open(path, mode="r")
    except (av.FFmpegError, OSError) as err:
        raise InputError(path, f"not a readable video file ({_reason(err)})") from None
    if container.format.name == "tty" or not container.streams.video:
        container.close()
        raise InputError(path, "no video stream")
    return container


def _seconds(stream, value):
    return float(value * stream.time_base) if value is not None and stream.time_base else 0.0


def probe(path):
    """Reads a video's header.

    Raises:
        InputError: missing, empty, unreadable, or no video stream.
    """
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or float(rate) <= 0:
            raise InputError(path, "video stream has no frame rate")
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(fps=float(rate), width=stream.codec_context.width,
                         height=stream.codec_context.height, frames=int(stream.frames or 0),
                         has_audio=audio is not None, start=_seconds(stream, stream.start_time),
                         audio_start=_seconds(audio, audio.start_time) if audio else 0.0)


def iter_frames(path, rgb=True):
    """Yields (frame uint8 (H, W, 3), presentation time in seconds) for every decoded frame.

    Args:
        path: the video file.
        rgb: RGB channel order if True, else BGR.

    Raises:
        InputError: unreadable file, no video stream, or a decoding error mid-stream.
    """
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        layout = "rgb24" if rgb else "bgr24"
        try:
            for frame in container.decode(stream):
                time = frame.time if frame.time is not None else float("nan")
                yield frame.to_ndarray(format=layout), time
        except (av.FFmpegError, OSError) as err:
            raise InputError(path, f"corrupt video ({_reason(err)})") from None


def frame_times(pts_times, info):
    """Each frame's time in seconds from the audio's start (see the module docstring).

    Args:
        pts_times: float sequence (N,), decoded presentation times (NaN where unknown).
        info: the video's VideoInfo.

    Returns:
        (float64 array (N,), bool: True when the video is treated as constant frame rate).
    """
    pts = np.asarray(pts_times, dtype=np.float64)
    grid = np.arange(len(pts), dtype=np.float64) / float(info.fps)
    if len(pts) == 0 or not np.isfinite(pts).all():
        return grid, True
    drift = np.abs((pts - pts[0]) - grid)
    if drift.max() < 0.25 / info.fps:
        return grid, True
    return pts - info.audio_start, False
