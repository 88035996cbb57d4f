"""Writing the output video: H.264 frames at a constant rate plus the input audio, atomically.

Frames are encoded as they come (nothing is held back), into a temporary file beside the output
that is renamed over it only when everything succeeded; on any error or interruption the
temporary file is removed, so a failed run never leaves a partial output. The audio is copied
packet for packet when mp4 can carry its codec, and encoded to AAC otherwise.
"""

import fractions
import os

import av
import numpy as np

from tflipsync import files
from tflipsync.errors import InputError

# audio codecs an mp4 file carries as they are (copied without re-encoding)
MP4_AUDIO_CODECS = ("aac", "mp3", "alac")


def even_size(height, width):
    """The size H.264 4:2:0 can encode: each side rounded up to even."""
    return height + height % 2, width + width % 2


def check_writable(out):
    """Raises InputError unless `out`'s folder exists and can be written to."""
    folder = os.path.dirname(os.path.abspath(out)) or "."
    if not os.path.isdir(folder):
        raise InputError(out, f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(out, f"output folder {folder} is not writable")
    if os.path.isdir(out):
        raise InputError(out, "is a folder; give an output file name")


class VideoWriter:
    """H.264 mp4 writer; use as a context manager, `write(frame)` per frame, then leave the block.

    Args:
      out: the mp4 path (written as a temporary file, renamed on success).
      fps: frame rate (frame j is shown at j / fps).
      size: (height, width) of the frames given to `write`; odd sides are padded by one edge
        pixel (H.264 4:2:0 needs even sides).
      audio: optional path of the file whose first audio stream the output carries.
      crf, preset: x264 quality and speed.
    """

    def __init__(self, out, fps, size, audio=None, crf=18, preset="veryfast", threads=0):
        self.out = out
        self.size = size
        self.padded = even_size(*size)
        self.frames = 0
        self._temporary = files.temporary_path(out)
        self._container = av.open(self._temporary, mode="w")
        rate = fractions.Fraction(fps).limit_denominator(1001)
        self._video = self._container.add_stream("libx264", rate=rate)
        self._video.height, self._video.width = self.padded
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(crf), "preset": preset}
        self._video.thread_count = threads
        self._video.codec_context.time_base = 1 / rate
        self._audio_path = audio
        self._audio_in = None
        self._audio_out = None
        self._audio_copy = False
        if audio is not None:
            try:
                self._open_audio(audio)
            except BaseException:
                self._abandon()
                raise

    def _open_audio(self, path):
        try:
            self._audio_in = av.open(path)
        except (av.FFmpegError, OSError) as err:
            raise InputError(path, f"not readable ({getattr(err, 'strerror', None) or type(err).__name__})") from None
        if not self._audio_in.streams.audio:
            raise InputError(path, "no audio stream")
        source = self._audio_in.streams.audio[0]
        if source.codec_context.name in MP4_AUDIO_CODECS:
            self._audio_out = self._container.add_stream_from_template(source)
            self._audio_copy = True
        else:
            rate = source.codec_context.sample_rate or 48000
            self._audio_out = self._container.add_stream("aac", rate=rate)
            self._audio_out.bit_rate = 160000
            self._audio_out.layout = "mono" if source.codec_context.channels == 1 else "stereo"

    @property
    def audio_copied(self):
        """True when the audio was copied, False when it was encoded to AAC."""
        return self._audio_copy

    def write(self, frame):
        """Encodes one (H, W, 3) uint8 RGB frame of the size given at construction."""
        if frame.shape[:2] != tuple(self.size):
            raise ValueError(f"frame of size {frame.shape[:2]}, expected {self.size}")
        if self.padded != tuple(self.size):
            frame = np.pad(frame, ((0, self.padded[0] - frame.shape[0]),
                                   (0, self.padded[1] - frame.shape[1]), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = self.frames
        for packet in self._video.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def _mux_audio(self):
        source = self._audio_in.streams.audio[0]
        if self._audio_copy:
            for packet in self._audio_in.demux(source):
                if packet.dts is None:
                    continue
                packet.stream = self._audio_out
                self._container.mux(packet)
            return
        resampler = av.AudioResampler(format="fltp", layout=self._audio_out.layout.name,
                                      rate=self._audio_out.rate)
        for frame in self._audio_in.decode(source):
            frame.pts = None
            for resampled in resampler.resample(frame):
                for packet in self._audio_out.encode(resampled):
                    self._container.mux(packet)
        for resampled in resampler.resample(None):
            for packet in self._audio_out.encode(resampled):
                self._container.mux(packet)
        for packet in self._audio_out.encode(None):
            self._container.mux(packet)

    def _finish(self):
        for packet in self._video.encode(None):
            self._container.mux(packet)
        if self._audio_in is not None:
            self._mux_audio()
        self._container.close()

    def _abandon(self):
        """Closes everything and removes the temporary file (errors while closing are moot)."""
        try:
            self._container.close()
        except (av.FFmpegError, OSError, ValueError):
            pass
        if self._audio_in is not None:
            self._audio_in.close()
            self._audio_in = None
        if os.path.exists(self._temporary):
            os.remove(self._temporary)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None:
            self._abandon()
            return False
        try:
            self._finish()
            os.replace(self._temporary, self.out)
        finally:
            self._abandon()
        return False
