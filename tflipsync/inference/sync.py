"""`tflipsync sync`: lip-syncs a video or a photo to speech, streaming, and writes an mp4.

Two passes over the face input, neither holding the video in memory:

1. detection: every source frame once through BlazeFace; per-shot tracking keeps the main face
   and its boxes are smoothed within shots (a few numbers per frame are kept, never the frames);
2. synthesis: a reader thread decodes the frames of the output schedule (a video shorter than the
   audio plays forwards and backwards), the main thread crops, generates in batches and pastes
   the lower face back (tflipsync/inference/paste.py), and a writer thread encodes; the queues between them
   are bounded, so memory does not grow with the video's length.

The output lasts as long as the audio (to the frame), keeps the input's frame rate (a photo gets
--fps) and resolution, and carries the input audio. Frames whose face was not found pass through
unchanged and are counted; so are silent frames (see --silence).

`--engine landmarks` (tflipsync/inference/engines/landmarks.py) redraws no pixels: pass 1 also runs the face
mesh on each face, the landmark predictor plans the mouth of every output frame, and pass 2 warps
the frame's own mouth there (tflipsync/inference/warp.py). `--sketch` writes its landmark and edge sketch
(tflipsync/inference/sketch.py) beside the output, frame for frame.
"""

import contextlib
import dataclasses
import os
import queue
import threading
import time

import numpy as np

from tflipsync import audio, faces
from tflipsync.media import encode, images, source
from tflipsync.inference import paste
from tflipsync.inference import sketch as sketches
from tflipsync.inference.engines import ENGINES
from tflipsync.errors import InputError
from tflipsync.inference.engines.landmarks import box_detection

SILENCE_MODES = ("original", "closed", "off")
_DONE = object()


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything `run_sync` needs; the command-line flags map one to one."""
    face: str
    audio: str
    out: str
    weights: str = None
    width: float = None
    engine: str = "keras"
    pads: tuple = (0, 0, 0, 0)  # extra pixels top, bottom, left, right around the padded face box
    box: tuple = None  # fixed face box top, bottom, left, right (skips detection)
    resize_factor: int = 1
    crop: tuple = (0, -1, 0, -1)
    rotate: bool = False
    nosmooth: bool = False
    static: bool = False
    fps: float = 25.0
    batch_size: int = 16
    window_offset: int = -1
    silence: str = "original"
    silence_db: float = 40.0
    feather: float = 0.12
    colour_match: bool = True
    progress: bool = True
    sketch: str = None  # the landmark and edge sketch video (--engine landmarks)


class _Stages:
    """Seconds spent per pipeline stage (each stage's own thread time).

    The landmarks engine adds its own: "mesh" (pass 1), "predict" and "warp"; --sketch adds "sketch".
    """

    def __init__(self):
        self.seconds = {name: 0.0 for name in ("decode", "detect", "generate", "paste", "encode")}

    def add(self, name, started):
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def check_paths(options, extensions=(".mp4", ".mov", ".mkv")):
    """Refuses an output that is an input, of another type, or in a missing or read-only folder."""
    paths = [options.face, options.audio] + ([options.weights] if options.weights else [])
    for target, kinds in [(options.out, extensions)] + ([(options.sketch, (".mp4", ".mov", ".mkv"))]
                                                        if options.sketch else []):
        out = os.path.abspath(target)
        for path in paths:
            if os.path.abspath(path) == out or (os.path.exists(path) and os.path.exists(out)
                                                and os.path.samefile(path, out)):
                raise InputError(target, "the output path is one of the inputs; refusing to overwrite it")
        if os.path.splitext(out)[1].lower() not in kinds:
            raise InputError(target, f"the output must be a {', '.join(kinds)} file")
        encode.check_writable(target)
        paths.append(target)  # the sketch may not overwrite the output either


def frame_silence(wav, count, fps, drop_db=40.0, floor_db=-60.0, min_frames=8):
    """Which of `count` output frames are silent.

    A frame is silent when the RMS of the audio within half a frame around its interval is more
    than `drop_db` below the loudest frame's or below `floor_db` dBFS; silent runs shorter than
    `min_frames` count as speech (pauses between words keep the mouth moving).

    Returns:
        bool (count,).
    """
    rate = audio.SAMPLE_RATE
    edges = (np.arange(count + 1) / fps * rate).astype(np.int64)
    half = int(rate / fps / 2)
    level = np.empty(count)
    for j in range(count):
        part = wav[max(0, edges[j] - half):edges[j + 1] + half]
        level[j] = 10 * np.log10(np.mean(part.astype(np.float64) ** 2) + 1e-12) if part.size else -120.0
    silent = (level < level.max() - drop_db) | (level < floor_db)
    out = silent.copy()
    j = 0
    while j < count:
        if silent[j]:
            k = j
            while k < count and silent[k]:
                k += 1
            if k - j < min_frames and not (j == 0 or k == count):
                out[j:k] = False
            j = k
        else:
            j += 1
    return out


def mel_windows(wav, count, fps, offset=-1):
    """(count, 80, 16) normalised mel windows: frame j's starts at mel_start(j + offset), clamped.

    offset -1 is the training convention (the window starts one frame before the frame, as the
    generator learned it); 0 is the original inference script's.
    """
    mel = audio.melspectrogram(wav)
    if mel.shape[1] < audio.MEL_STEPS:
        mel = np.pad(mel, ((0, 0), (0, audio.MEL_STEPS - mel.shape[1])), constant_values=mel.min())
    starts = np.clip(audio.window_starts(np.arange(count), fps, offset), 0, mel.shape[1] - audio.MEL_STEPS)
    return np.stack([mel[:, s:s + audio.MEL_STEPS] for s in starts]).astype(np.float32)


def _silent_window():
    return audio.melspectrogram(np.zeros(audio.SAMPLE_RATE, np.float32))[:, :audio.MEL_STEPS].astype(np.float32)


def _face_boxes(face_source, options, stages, progress, measure=None):
    """Pass 1: the main face's box in each of the M source frames.

    Args:
      measure: optional measure(frame, Detection) -> a record or None (no usable face), run on
        every detected face (the landmarks engine's face mesh).

    Returns:
      boxes float32 (M, 4) x0, y0, x1, y1 padded; present bool (M,); shots int (M,) shot
      number; records: per frame the main face's record (None where absent), or None without
      `measure`. A frame whose record is None is not present.
    """
    from tqdm import tqdm

    if options.box is not None:
        frame = face_source.first_frame()
        top, bottom, left, right = options.box
        height, width = frame.shape[:2]
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise InputError("--box", f"({top}, {bottom}, {left}, {right}) is not inside the {width}x{height} frame")
        box = np.array([left, top, right, bottom], np.float32)
        records = []
        for frame in face_source.scan():
            if measure is None:
                records.append(box)  # the face is where the box says, in every frame
                continue
            started = time.perf_counter()
            records.append(measure(frame, box_detection(box)))
            stages.add("mesh", started)
        count = len(records)
        present = np.array([r is not None for r in records], bool)
        return np.tile(box, (count, 1)), present, np.zeros(count, int), records if measure else None
    detections, thumbs, measured = [], [], []
    total = getattr(getattr(face_source, "info", None), "frames", 0) or None
    with faces.FaceDetector() as detector, tqdm(total=total, unit="frame", desc="detect",
                                                disable=not progress) as bar:
        frames = face_source.scan()
        while True:
            started = time.perf_counter()
            frame = next(frames, None)
            stages.add("decode", started)
            if frame is None:
                break
            started = time.perf_counter()
            detections.append(detector.detect(frame))
            thumbs.append(faces.thumbnail(frame))
            stages.add("detect", started)
            if measure is not None:
                started = time.perf_counter()
                measured.append([measure(frame, d) for d in detections[-1]])
                stages.add("mesh", started)
            bar.update(1)
    cuts = faces.scene_cuts(thumbs)
    chosen = faces.main_track(detections, cuts)
    records = None
    if measure is not None:
        records = [None if d is None else next(r for r, c in zip(measured[i], detections[i]) if c is d)
                   for i, d in enumerate(chosen)]
        chosen = [d if r is not None else None for d, r in zip(chosen, records)]
    boxes, present = faces.smooth_boxes(chosen, cuts, radius=0 if options.nosmooth else 2)
    height, width = face_source.first_frame().shape[:2]
    top, bottom, left, right = options.pads
    padded = np.zeros_like(boxes)
    for i in np.flatnonzero(present):
        x0, y0, x1, y1 = faces.pad_box(boxes[i], (height, width))
        padded[i] = [max(0, x0 - left), max(0, y0 - top), min(width, x1 + right), min(height, y1 + bottom)]
    return padded, present, np.cumsum(cuts) - 1, records




def _reader(face_source, schedule, frames_out, stages, stop):
    try:
        iterator = face_source.frames(schedule)
        while not stop.is_set():
            started = time.perf_counter()
            frame = next(iterator, _DONE)
            stages.add("decode", started)
            frames_out.put(frame)
            if frame is _DONE:
                return
    except BaseException as err:  # handed to the main thread
        frames_out.put(err)


def _writer(write, frames_in, stages, errors):
    try:
        while True:
            frame = frames_in.get()
            if frame is _DONE:
                return
            started = time.perf_counter()
            write(frame)
            stages.add("encode", started)
    except BaseException as err:
        errors.append(err)


@dataclasses.dataclass
class Job:
    """A prepared lip-sync job: the inputs read, faces found, the output schedule decided."""
    options: Options
    face_source: source.FaceSource
    engine: object
    fps: float
    count: int  # output frames
    audio_seconds: float
    boxes: np.ndarray  # (M, 4) padded face box per source frame
    present: np.ndarray  # (M,) bool
    schedule: np.ndarray  # (count,) source frame per output frame
    windows: np.ndarray  # (count, 80, 16)
    keep_original: np.ndarray  # (count,) bool: silent frames left as they are
    stages: _Stages
    started: float
    plan: object = None  # the landmarks engine's landmark_engine.Plan (None for generator engines)

    @property
    def size(self):
        return self.face_source.first_frame().shape[:2]


def check_options(options):
    if options.engine not in ENGINES:
        raise InputError("--engine", f"{options.engine!r} is not an engine; use one of {sorted(ENGINES)}")
    if options.silence not in SILENCE_MODES:
        raise InputError("--silence", f"must be one of {SILENCE_MODES}")
    if options.batch_size < 1:
        raise InputError("--batch_size", "must be at least 1")
    if options.sketch and options.engine != "landmarks":
        raise InputError("--sketch", "needs --engine landmarks (the generator engines predict no landmarks)")
    if options.fps <= 0:
        raise InputError("--fps", f"must be positive, got {options.fps}")


def prepare(options, wav=None):
    """Reads the audio, finds the faces (pass 1) and plans the output; returns a Job.

    Args:
      options: Options (its `out` is not touched here).
      wav: optional 16 kHz samples to use instead of decoding options.audio (e.g. trimmed).
    """
    started = time.perf_counter()
    stages = _Stages()
    if wav is None:
        wav = audio.load_wav(options.audio)
    seconds = len(wav) / audio.SAMPLE_RATE
    if not np.any(np.abs(wav) > 1e-4):
        raise InputError(options.audio, "the audio is silent throughout: nothing to lip-sync")
    transform = source.Transform(options.rotate, options.resize_factor, options.crop)
    face_source = source.FaceSource(options.face, transform, options.fps, options.static)
    fps = face_source.fps
    count = max(1, int(round(seconds * fps)))
    engine = ENGINES[options.engine](options.weights, options.width, options.batch_size)
    on_frames = getattr(engine, "works_on_frames", False)

    boxes, present, shots, mouths = _face_boxes(face_source, options, stages, options.progress,
                                                engine.measure if on_frames else None)
    if not present.any():
        if options.box is not None:
            raise InputError("--box", f"the face mesh finds no face in the box in any of the {len(present)} frames "
                                      "(give the face's box, forehead to chin)")
        raise InputError(options.face, f"no face found in any of its {len(present)} frames")
    schedule = face_source.schedule(count)
    silent = frame_silence(wav, count, fps, options.silence_db) if options.silence != "off" else np.zeros(count, bool)
    keep_original = silent if options.silence == "original" else np.zeros(count, bool)
    plan = None
    if on_frames:
        windows = np.zeros((count, 0, 0), np.float32)  # the landmark predictor reads the samples
        if options.silence == "closed":
            wav = _silence_frames(wav, silent, fps)
        started_plan = time.perf_counter()
        plan = engine.plan(mouths, shots, wav, fps, count)
        stages.add("predict", started_plan)
    else:
        windows = mel_windows(wav, count, fps, options.window_offset)
        if options.silence == "closed":
            windows[silent] = _silent_window()
    return Job(options, face_source, engine, fps, count, seconds, boxes, present, schedule, windows,
               keep_original, stages, started, plan)


def _silence_frames(wav, silent, fps):
    """`wav` with the samples of silent output frames set to zero (what --silence closed predicts from)."""
    wav = wav.copy()
    for j in np.flatnonzero(silent):
        wav[int(j / fps * audio.SAMPLE_RATE):int((j + 1) / fps * audio.SAMPLE_RATE)] = 0.0
    return wav


def render(job, write, sketch=None):
    """Pass 2: decodes, generates, pastes and hands each output frame (RGB uint8) to `write`.

    `write` runs on its own thread; the queues between the three threads hold at most two
    batches each. Returns the counts of generated, faceless and silent frames. `sketch`, if
    given, gets each output frame's sketch (tflipsync/inference/sketch.py) on the same thread.
    """
    from tqdm import tqdm

    options = job.options
    if sketch is not None:
        write = _both(write, sketch)
    paster = paste.Paster(options.feather, options.colour_match)
    frames_in, frames_out = queue.Queue(maxsize=2 * options.batch_size), queue.Queue(maxsize=2 * options.batch_size)
    stop = threading.Event()
    counts = {"generated": 0, "no_face": 0, "silent": 0}
    errors = []
    reader = threading.Thread(target=_reader, args=(job.face_source, job.schedule, frames_in, job.stages, stop),
                              daemon=True)
    encoder = threading.Thread(target=_writer, args=(write, frames_out, job.stages, errors), daemon=True)
    reader.start()
    encoder.start()
    try:
        with tqdm(total=job.count, unit="frame", desc="sync", disable=not options.progress) as bar:
            j = 0
            while j < job.count:
                batch = []
                while len(batch) < options.batch_size and j + len(batch) < job.count:
                    item = frames_in.get()
                    if isinstance(item, BaseException):
                        raise item
                    if item is _DONE:
                        raise InputError(options.face, "the video ended earlier than in the first pass")
                    batch.append(item)
                if job.plan is not None:
                    frames, points = _warp_batch(batch, j, job, counts)
                else:
                    frames, points = _sync_batch(batch, j, job, paster, counts), [None] * len(batch)
                for k, frame in enumerate(frames):
                    if sketch is not None:
                        frame = (frame, _sketch(job, frame, j + k, points[k]))
                    _put(frames_out, frame, errors)
                j += len(batch)
                bar.update(len(batch))
        _put(frames_out, _DONE, errors)
        encoder.join()
    except BaseException:
        stop.set()
        _drain(frames_in)
        _drain(frames_out)
        frames_out.put(_DONE)
        encoder.join(timeout=10)
        raise
    if errors:
        raise errors[0]
    return counts


def _both(write, sketch):
    def write_both(pair):
        write(pair[0])
        sketch(pair[1])
    return write_both


def _sketch(job, frame, j, points):
    started = time.perf_counter()
    s = job.schedule[j]
    outer, inner = sketches.lips(points, job.engine.mouth) if points is not None else (None, None)
    drawn = sketches.draw(frame, job.boxes[s] if job.present[s] else None, outer, inner)
    job.stages.add("sketch", started)
    return drawn


def _put(q, item, errors):
    """Puts `item` unless the consumer has failed (then raises its error instead of blocking)."""
    while True:
        if errors:
            raise errors[0]
        try:
            q.put(item, timeout=0.5)
            return
        except queue.Full:
            continue


def summary(job, counts, **extra):
    return {"frames": job.count, "fps": job.fps, "size": job.size, "seconds": job.count / job.fps,
            "audio_seconds": job.audio_seconds, "source_frames": job.face_source.source_frames,
            "faces_missing_in_source": int((~job.present).sum()), "weights": job.engine.description,
            "elapsed": time.perf_counter() - job.started, "stages": dict(job.stages.seconds), **counts, **extra}


def run_sync(options):
    """Runs the whole job; returns a summary dict. Raises InputError for unusable input."""
    check_options(options)
    check_paths(options)
    job = prepare(options)
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(encode.VideoWriter(options.out, job.fps, job.size, audio=options.audio))
        sketch = None
        if options.sketch:
            sketch = stack.enter_context(encode.VideoWriter(options.sketch, job.fps, job.size,
                                                            audio=options.audio)).write
        counts = render(job, writer.write, sketch)
    return summary(job, counts, out=options.out, audio_copied=writer.audio_copied, sketch=options.sketch)


def _drain(q):
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def _frames_to_redraw(batch, first, job, counts):
    """(k, output frame j, source frame s) of the batch's frames an engine redraws; frames without
    the face and silent frames left as they are (--silence original) are counted instead."""
    work = []
    for k in range(len(batch)):
        j = first + k
        s = job.schedule[j]
        if not job.present[s]:
            counts["no_face"] += 1
        elif job.keep_original[j]:
            counts["silent"] += 1
        else:
            work.append((k, j, s))
    return work


def _sync_batch(batch, first, job, paster, counts):
    """The output frames of one batch of decoded frames (first output index `first`)."""
    stages = job.stages
    started = time.perf_counter()
    work, crops, mels = [], [], []
    for k, j, s in _frames_to_redraw(batch, first, job, counts):
        crop = faces.crop_face(batch[k], job.boxes[s])[..., ::-1].astype(np.float32) / 255.0  # RGB -> BGR
        work.append(k)
        crops.append(crop)
        mels.append(job.windows[j])
    stages.add("paste", started)
    out = list(batch)
    if work:
        started = time.perf_counter()
        crops = np.stack(crops)
        generated = job.engine(np.stack(mels), images.masked_face_input(crops, crops))
        stages.add("generate", started)
        started = time.perf_counter()
        for n, k in enumerate(work):
            face = np.clip(np.rint(generated[n][..., ::-1] * 255.0), 0, 255)  # BGR [0, 1] -> RGB
            out[k] = paster.paste(batch[k], job.boxes[job.schedule[first + k]], face)
        stages.add("paste", started)
    counts["generated"] += len(work)
    return out


def _warp_batch(batch, first, job, counts):
    """The landmarks engine's output frames of one batch and their mouth points (None: unchanged)."""
    started = time.perf_counter()
    out, points = list(batch), [None] * len(batch)
    for k, j, s in _frames_to_redraw(batch, first, job, counts):
        out[k], points[k] = job.engine.warp(batch[k], job.plan, s, j)
        counts["generated"] += 1
    job.stages.add("warp", started)
    return out, points


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    flags.DEFINE_string("face", None, "Video or photo with the face to lip-sync.", **fv)
    flags.DEFINE_string("audio", None, "Speech: any audio file or the audio track of a video.", **fv)
    flags.DEFINE_string("out", None, "Output video (.mp4, .mov or .mkv).", **fv)
    flags.DEFINE_string("weights", None, "Generator weights: .weights.h5 for keras (e.g. from `tflipsync convert`), "
                        "a .tflite for tflite, a SavedModel folder for savedmodel (`tflipsync export`); "
                        "a landmark model file for landmarks; default: the embedded model.", **fv)
    flags.DEFINE_float("width", None, "Generator width --weights were made for (default 1.0).", **fv)
    flags.DEFINE_enum("engine", "keras", ["keras", "tflite", "savedmodel", "landmarks"], "Inference engine: a "
                      "generator that redraws the lower face, or landmarks: predicted mouth landmarks warp the "
                      "face's own mouth (any face, photo or cartoon; no pixel generator).", **fv)
    flags.DEFINE_string("sketch", None, "Also write the landmark and edge sketch of every output frame to this "
                        "video (.mp4, .mov or .mkv; --engine landmarks).", **fv)
    flags.DEFINE_list("pads", ["0", "0", "0", "0"], "Extra pixels top,bottom,left,right around the face box "
                      "(the box already holds the chin; add bottom pixels for long chins).", **fv)
    flags.DEFINE_list("box", None, "Fixed face box top,bottom,left,right in the frame: skips detection.", **fv)
    flags.DEFINE_integer("resize_factor", 1, "Downscale frames by this integer factor first.", lower_bound=1, **fv)
    flags.DEFINE_list("crop", ["0", "-1", "0", "-1"], "Crop top,bottom,left,right after resize and rotate "
                      "(-1: the full extent).", **fv)
    flags.DEFINE_boolean("rotate", False, "Turn frames 90 degrees clockwise (rotation metadata is applied "
                         "anyway).", **fv)
    flags.DEFINE_boolean("nosmooth", False, "Do not average face boxes over neighbouring frames.", **fv)
    flags.DEFINE_boolean("static", False, "Use only the video's first frame.", **fv)
    flags.DEFINE_float("fps", 25.0, "Frame rate of the output for a photo (a video keeps its own).", **fv)
    flags.DEFINE_integer("batch_size", 16, "Frames per generator call.", lower_bound=1, **fv)
    flags.DEFINE_integer("window_offset", -1, "Frame j's mel window starts at frame j + this (-1: as trained; "
                         "0: the original inference script).", **fv)
    flags.DEFINE_enum("silence", "original", list(SILENCE_MODES), "Silent frames: keep the original frame, "
                      "generate a closed mouth, or treat as speech.", **fv)
    flags.DEFINE_float("silence_db", 40.0, "A frame this many dB below the loudest is silent.", **fv)
    flags.DEFINE_float("feather", 0.12, "Softness of the paste mask (fraction of the face box).", **fv)
    flags.DEFINE_boolean("colour_match", True, "Match the generated mouth's colour to the frame.", **fv)
    flags.DEFINE_boolean("progress", True, "Show progress bars.", **fv)
    for name in ("face", "audio", "out"):
        flags.mark_flag_as_required(name, flag_values=flag_values)


def _ints(name, values, count):
    try:
        out = tuple(int(v) for v in values)
    except ValueError:
        out = ()
    if len(out) != count:
        raise InputError(f"--{name}", f"expected {count} integers separated by commas")
    return out


def options_from_flags(f):
    """Options from parsed flags (define_flags)."""
    return Options(
        face=f.face, audio=f.audio, out=f.out, weights=f.weights, width=f.width, engine=f.engine,
        pads=_ints("pads", f.pads, 4), box=_ints("box", f.box, 4) if f.box else None,
        resize_factor=f.resize_factor, crop=_ints("crop", f.crop, 4), rotate=f.rotate, nosmooth=f.nosmooth,
        static=f.static, fps=f.fps, batch_size=f.batch_size, window_offset=f.window_offset, silence=f.silence,
        silence_db=f.silence_db, feather=f.feather, colour_match=f.colour_match, progress=f.progress,
        sketch=f.sketch)


def run(flag_values):
    options = options_from_flags(flag_values)
    summary = run_sync(options)
    height, width = summary["size"]
    print(f"wrote {summary['out']}: {summary['frames']} frames, {width}x{height} at {summary['fps']:g} fps "
          f"({summary['seconds']:.2f} s for {summary['audio_seconds']:.2f} s of audio; audio "
          f"{'copied' if summary['audio_copied'] else 'encoded to AAC'})")
    print(f"faces redrawn in {summary['generated']} frames; passed through unchanged: "
          f"{summary['no_face']} without a face, {summary['silent']} silent")
    print(f"weights: {summary['weights']}")
    if summary["sketch"]:
        print(f"sketch: {summary['sketch']}")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary["stages"].items())
    print(f"{summary['frames'] / summary['elapsed']:.1f} frames/s end to end ({stages})")
