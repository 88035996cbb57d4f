"""The face input of `tflipsync sync`: a photo or a video, read as the output's frame sequence.

Frames are upright (rotation metadata applied), then optionally turned 90 degrees clockwise,
downscaled by an integer factor and cropped, in that order (the original's options). A video
shorter than the audio is played forwards, then backwards, and so on; the frame for output time
j / fps is the source frame shown at that time, so variable-frame-rate input comes out at a
constant rate. Backward runs are decoded in chunks after a seek, so memory is bounded by the
chunk, never by the video's length.
"""

import dataclasses
import os

import av
import cv2
import numpy as np

from tflipsync.media import images, video
from tflipsync.errors import InputError, require_file

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
CHUNK_BYTES = 256 * 2**20  # frames held while playing a video backwards


@dataclasses.dataclass(frozen=True)
class Transform:
    """What is done to every frame after decoding (the original's --rotate, --resize_factor, --crop)."""
    rotate: bool = False
    resize_factor: int = 1
    crop: tuple = (0, -1, 0, -1)  # top, bottom, left, right; -1: the full extent

    def apply(self, frame, metadata_rotation=0):
        frame = upright(frame, metadata_rotation)
        if self.rotate:
            frame = np.rot90(frame, k=-1)
        if self.resize_factor > 1:
            height, width = frame.shape[:2]
            frame = cv2.resize(frame, (max(1, width // self.resize_factor), max(1, height // self.resize_factor)),
                               interpolation=cv2.INTER_AREA)
        top, bottom, left, right = self.crop
        height, width = frame.shape[:2]
        bottom = height if bottom == -1 else bottom
        right = width if right == -1 else right
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise InputError("--crop", f"({top}, {bottom}, {left}, {right}) is not inside the "
                                       f"{width}x{height} frame")
        return np.ascontiguousarray(frame[top:bottom, left:right])


def upright(frame, rotation):
    """Turns a decoded frame the way its display matrix says (`rotation`: degrees, counter-clockwise)."""
    turns = int(round(rotation / 90.0)) % 4
    return np.rot90(frame, k=turns) if turns else frame


def is_image(path):
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def pingpong(count, length):
    """Indices into a sequence of `length` for `count` outputs: forwards, backwards, forwards, ..."""
    j = np.arange(count)
    if length <= 1:
        return np.zeros(count, int)
    period = 2 * length - 2
    position = j % period
    return np.where(position < length, position, period - position)


class FaceSource:
    """A photo or a video as frames.

    Args:
      path: the face file.
      transform: a Transform.
      fps: the frame rate of a photo's output (a video keeps its own).
      static: use only the first frame of a video (as a photo).

    Raises:
      InputError: missing, unreadable, no video stream, or no frames.
    """

    def __init__(self, path, transform=Transform(), fps=25.0, static=False):
        self.path = require_file(path, "a photo or a video")
        self.transform = transform
        self._first = None
        self.is_image = is_image(self.path)
        if self.is_image:
            self._first = transform.apply(images.read_image(self.path))
            self.fps = float(fps)
            self.source_frames = 1
        else:
            info = video.probe(self.path)
            self.info = info
            self.fps = info.fps
            self.source_frames = None  # known after scan()
        self.static = static or self.is_image
        self.times = None
        self._pts = None

    def first_frame(self):
        """The first frame (RGB uint8, transformed)."""
        if self._first is None:
            for frame in self._decode():
                self._first = frame
                break
            else:
                raise InputError(self.path, "the video stream has no frames")
        return self._first

    def _decode(self, seek_pts=None, record=False):
        """Yields transformed RGB frames from the start (or from a seek); records pts if asked."""
        try:
            container = av.open(self.path)
        except (av.FFmpegError, OSError) as err:
            raise InputError(self.path, f"not a readable video file ({type(err).__name__})") from None
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if seek_pts is not None:
                container.seek(int(seek_pts), stream=stream, backward=True, any_frame=False)
            try:
                for frame in container.decode(stream):
                    rgb = self.transform.apply(frame.to_ndarray(format="rgb24"), frame.rotation or 0)
                    if record:
                        self._pts.append(frame.pts)
                        self.times.append(frame.time if frame.time is not None else float("nan"))
                    yield (frame.pts, rgb) if seek_pts is not None else rgb
            except (av.FFmpegError, OSError) as err:
                raise InputError(self.path, f"corrupt video ({getattr(err, 'strerror', None) or type(err).__name__})") from None

    def scan(self):
        """Yields every source frame once (the detection pass) and learns their times.

        A static source yields its first frame only.
        """
        if self.static:
            self.source_frames = 1
            self.times = [0.0]
            yield self.first_frame()
            return
        self._pts, self.times = [], []
        for frame in self._decode(record=True):
            yield frame
        self.source_frames = len(self.times)
        if self.source_frames == 0:
            raise InputError(self.path, "the video stream has no frames")

    def schedule(self, count):
        """Source frame index of each of `count` output frames at self.fps (after scan())."""
        if self.source_frames is None:
            raise RuntimeError("scan() first")
        if self.static:
            return np.zeros(count, int)
        times, constant = video.frame_times(self.times, self.info)
        if constant:
            return pingpong(count, self.source_frames)
        # variable frame rate: the frame shown at each tick of a constant-rate clock, then ping-pong
        ticks = int(np.ceil((times[-1] - times[0]) * self.fps)) + 1
        shown = np.clip(np.searchsorted(times - times[0], np.arange(ticks) / self.fps + 1e-9, "right") - 1,
                        0, self.source_frames - 1)
        return shown[pingpong(count, ticks)]

    def frames(self, indices):
        """Yields the transformed frame of each source index in `indices`, decoding as it goes.

        Forward runs decode sequentially; backward runs decode chunks after a seek. Memory holds
        one chunk at most (CHUNK_BYTES).
        """
        if self.static:
            first = self.first_frame()
            for _ in indices:
                yield first
            return
        indices = np.asarray(indices, int)
        start = 0
        while start < len(indices):
            end = start + 1
            backward = end < len(indices) and indices[end] < indices[start]
            while end < len(indices) and (indices[end] - indices[end - 1] in ((-1, 0) if backward else (0, 1))):
                end += 1
            run = indices[start:end]
            yield from (self._backward(run) if backward else self._forward(run))
            start = end

    def _forward(self, run):
        position, frame = -1, None
        frames = self._decode()
        for index in run:
            while position < index:
                frame = next(frames, None)
                if frame is None:
                    raise InputError(self.path, "the video ended earlier than in the first pass")
                position += 1
            yield frame
        frames.close()

    def _backward(self, run):
        frame_bytes = max(1, self.first_frame().nbytes)
        chunk = max(8, CHUNK_BYTES // frame_bytes)
        index_of = {pts: i for i, pts in enumerate(self._pts)}
        high = int(run[0])
        low_end = int(run[-1])
        cursor = 0
        while high >= low_end:
            low = max(low_end, high - chunk + 1)
            held = {}
            for pts, frame in self._decode(seek_pts=self._pts[low]):
                i = index_of.get(pts)
                if i is None or i < low:
                    continue
                if i > high:
                    break
                held[i] = frame
            while cursor < len(run) and run[cursor] >= low:
                index = int(run[cursor])
                if index not in held:
                    raise InputError(self.path, f"frame {index} could not be decoded after a seek")
                yield held[index]
                cursor += 1
            high = low - 1
