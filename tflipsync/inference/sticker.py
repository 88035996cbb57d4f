"""`tflipsync sticker`: a looping, square, 512-pixel lip-synced sticker from a photo or a video.

The face is lip-synced as `tflipsync sync` does it (same options, same pipeline), then a fixed
square around the main face (with --who, the chosen face; with --who all, the faces' union, at most
the frame's shorter side) is cut from every output frame and scaled to 512 x 512. Presets
keep each messenger's limits (telegram, whatsapp, gif, mp4: the table in tflipsync/media/stickers.py).

Audio longer than a preset allows is refused, or cut to the limit with --trim. A file over the
size limit is encoded again at a lower bit rate or quality (then fewer frames per second) until
it fits; if it never does, the run fails and writes nothing.

`--sketch OUT.mp4` (with `--engine landmarks`) writes the landmark and edge sketch of the same
square, 512 x 512, one frame per lip-synced frame (before a preset lowers the frame rate), as an
H.264 mp4 without audio.
"""

import contextlib
import dataclasses
import os
import time

from tflipsync import files
from tflipsync.media import encode, stickers
from tflipsync.inference import sync
from tflipsync.inference.options import check_options, check_paths, resolve_engine
from tflipsync.errors import InputError
from tflipsync.conventions import SAMPLE_RATE

SQUARE = (stickers.SIDE, stickers.SIDE)  # (height, width) of every sticker frame


def run_sticker(options, preset_name, trim=False):
    """Lip-syncs and writes the sticker; returns a summary dict."""
    out = options.out
    extension = os.path.splitext(out)[1].lower()
    if preset_name is None:
        if extension not in stickers.BY_EXTENSION:
            raise InputError(out, f"unknown sticker type {extension!r}; use .gif, .webp, .webm or .mp4")
        preset_name = stickers.BY_EXTENSION[extension]
    preset = stickers.PRESETS[preset_name]
    if extension != preset.extension:
        raise InputError(out, f"the {preset_name} preset writes {preset.extension} files")
    options = resolve_engine(options)
    check_options(options)
    check_paths(options, (".gif", ".webp", ".webm", ".mp4"))
    from tflipsync.audio import io as audio_io
    from tflipsync.inference import pipeline, plan

    wav = audio_io.load_wav(options.audio)
    seconds = len(wav) / SAMPLE_RATE
    if seconds > preset.max_seconds + 1e-6:
        if not trim:
            raise InputError(options.audio, f"{seconds:.2f} s of audio; the {preset_name} preset allows "
                                            f"{preset.max_seconds:g} s (give --trim to cut it)")
        wav = wav[:int(preset.max_seconds * SAMPLE_RATE)]
    job = plan.prepare(dataclasses.replace(options, fps=min(options.fps, preset.fps)), wav=wav)
    box = stickers.square_box(job.boxes, job.present, job.size)
    frames = []
    # the sketch is finished (renamed into place) only once the sticker is written
    with contextlib.ExitStack() as stack:
        sketch = None
        if options.sketch:
            sketch_writer = stack.enter_context(encode.VideoWriter(options.sketch, job.fps, SQUARE))
            sketch = lambda frame: sketch_writer.write(stickers.square_crop(frame, box))  # noqa: E731
        counts = pipeline.render(job, lambda frame: frames.append(stickers.square_crop(frame, box)), sketch)
        started = time.perf_counter()
        frames, fps = stickers.resample(frames, job.fps, preset.fps)
        if preset_name == "mp4":
            trimmed = files.temporary_path(out) + ".wav"
            try:
                audio_io.write_wav(trimmed, wav)
                with encode.VideoWriter(out, fps, SQUARE, audio=trimmed) as writer:
                    for frame in frames:
                        writer.write(frame)
            finally:
                if os.path.exists(trimmed):
                    os.remove(trimmed)
            how = "H.264 with AAC speech"
        else:
            data, how = stickers.fit(frames, fps, preset_name)
            files.write_bytes(out, data)
    job.stages.seconds["encode"] += time.perf_counter() - started
    return pipeline.summary(job, counts, out=out, preset=preset_name, sticker_frames=len(frames), sticker_fps=fps,
                        bytes=os.path.getsize(out), encoding=how, square=box.tolist(),
                        trimmed=len(wav) / SAMPLE_RATE < seconds)


def define_flags(flag_values):
    from absl import flags

    sync.define_flags(flag_values)
    flag_values["out"].help = "Sticker file: .gif, .webp (WhatsApp), .webm (Telegram) or .mp4."
    fv = {"flag_values": flag_values}
    flags.DEFINE_enum("preset", None, list(stickers.PRESETS), "Messenger limits (default: from the file's "
                      "extension).", **fv)
    flags.DEFINE_boolean("trim", False, "Cut audio longer than the preset allows instead of refusing it.", **fv)


def run(flag_values):
    options = sync.options_from_flags(flag_values)
    summary = run_sticker(options, flag_values.preset, flag_values.trim)
    print(f"wrote {summary['out']}: {summary['preset']} sticker, {stickers.SIDE}x{stickers.SIDE}, "
          f"{summary['sticker_frames']} frames at {summary['sticker_fps']:g} fps, {summary['bytes'] / 1024:.0f} KB "
          f"({summary['encoding']})"
          + ("; audio trimmed to the preset's limit" if summary["trimmed"] else ""))
    sync.print_faces(summary)
    print(f"model: {summary['model']}")
    if options.sketch:
        print(f"sketch: {options.sketch}")
