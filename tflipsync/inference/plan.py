"""Pass 1 of a lip-sync job: read the speech, find the main face in every source frame, plan the output.

The detection pass runs every source frame once through BlazeFace; per-shot tracking keeps the
main face and its boxes are smoothed within shots (a few numbers per frame are kept, never the
frames). The output lasts as long as the audio (to the frame) and keeps the input's frame rate
(a photo gets --fps); the plan says which source frame and which mel window each output frame
gets and which silent frames stay as they are (--silence).
"""

import dataclasses
import time

import numpy as np

from tflipsync.audio import io as audio_io, mel as audio_mel, windows as audio_windows
from tflipsync.audio.silence import frame_silence
from tflipsync.conventions import MEL_STEPS, SAMPLE_RATE
from tflipsync.errors import InputError
from tflipsync.faces import crop, detect, track, visibility
from tflipsync.inference.engines import ENGINES, FRAME
from tflipsync.inference.engines.landmarks import box_detection
from tflipsync.inference.options import Options, parse_who, resolve_engine
from tflipsync.media import source


class Stages:
    """Seconds spent per pipeline stage (each stage's own thread time).

    "mesh" is pass 1's face mesh (the mouth check, tflipsync/faces/visibility.py, and the landmarks
    engine's mouths); the landmarks engine adds "predict" and "warp"; --sketch adds "sketch".
    """

    def __init__(self):
        self.seconds = {name: 0.0 for name in ("decode", "detect", "generate", "paste", "encode")}

    def add(self, name, started):
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def mel_windows(wav, count, fps, offset=-1):
    """(count, 80, 16) normalised mel windows: frame j's starts at mel_start(j + offset), clamped.

    offset -1 is the training convention (the window starts one frame before the frame, as the
    generator learned it); 0 is the original inference script's.
    """
    return audio_windows.output_windows(audio_mel.melspectrogram(wav), count, fps, offset)


def _silent_window():
    return audio_mel.melspectrogram(np.zeros(SAMPLE_RATE, np.float32))[:, :MEL_STEPS].astype(np.float32)


def _face_boxes(face_source, options, stages, progress, measure=None):
    """Pass 1: the main face's box in each of the M source frames.

    Args:
      measure: optional measure(frame, Detection) -> a record or None (no usable face), run on
        every detected face (the landmarks engine's face mesh).

    Returns:
      boxes float32 (M, 4) x0, y0, x1, y1 padded; present bool (M,); shots int (M,) shot
      number; records: per frame the main face's record (None where absent), or None without
      `measure`. A frame whose record is None is not present. people: with --who all, (padded
      boxes (M, 4), present (M,)) of each face, and boxes, present are their union; else None.
    """
    from tqdm import tqdm

    if options.box is not None:
        box = crop.flag_box(options.box, face_source.first_frame().shape[:2])
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
        return np.tile(box, (count, 1)), present, np.zeros(count, int), records if measure else None, None
    who = parse_who(options.who)
    total = getattr(getattr(face_source, "info", None), "frames", 0) or None
    with detect.FaceDetector() as detector, tqdm(face_source.scan(), total=total, unit="frame", desc="detect",
                                                 disable=not progress) as frames:
        face = track.main_face(frames, detector, measure, 0 if options.nosmooth else 2, stages, who)
    size = face_source.first_frame().shape[:2]
    if who != "all":
        return _padded(face.boxes, face.present, size, options.pads), face.present, face.shots, face.records, None
    people = [(_padded(boxes, present, size, options.pads), present) for boxes, present in face.people]
    boxes = np.stack([boxes for boxes, _ in people])  # (P, M, 4)
    shown = np.stack([present for _, present in people])[..., None]  # (P, M, 1)
    present = shown[..., 0].any(axis=0)
    union = np.concatenate([np.where(shown, boxes, np.inf).min(axis=0)[:, :2],
                            np.where(shown, boxes, -np.inf).max(axis=0)[:, 2:]], axis=1)  # (M, 4)
    union = np.where(present[:, None], union, 0).astype(np.float32)
    return union, present, face.shots, face.records, people


def _padded(boxes, present, size, pads):
    """Detector boxes (M, 4) padded as the crop is (faces/crop.py) plus --pads, inside a frame of
    `size` (height, width); zero where not present."""
    height, width = size
    top, bottom, left, right = pads
    padded = np.zeros_like(boxes)
    for i in np.flatnonzero(present):
        x0, y0, x1, y1 = crop.pad_box(boxes[i], (height, width))
        padded[i] = [max(0, x0 - left), max(0, y0 - top), min(width, x1 + right), min(height, y1 + bottom)]
    return padded


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
    stages: Stages
    started: float
    plan: object = None  # a frame engine's plan (None for crop engines)
    hidden: np.ndarray = None  # (M,) "", "occluded" or "profile" per source frame (visibility.hidden_mouths)
    people: list = None  # --who all: (padded boxes (M, 4), present (M,)) per face; `boxes` is their union

    @property
    def size(self):
        return self.face_source.first_frame().shape[:2]

    def faces(self, s):
        """The padded boxes to redraw in source frame s: the face's, or with --who all each face's."""
        if self.people is None:
            return [self.boxes[s]]
        return [boxes[s] for boxes, present in self.people if present[s]]


def prepare(options, wav=None, engine=None):
    """Reads the audio, finds the faces (pass 1) and plans the output; returns a Job.

    Args:
      options: Options (its `out` is not touched here).
      wav: optional 16 kHz samples to use instead of decoding options.audio (e.g. trimmed).
      engine: optional crop engine already built for these options (a batch worker's, built once);
        None builds one. A frame engine keeps per-job state and is always built here.
    """
    options = resolve_engine(options)
    ENGINES[options.engine].load_runtime()
    started = time.perf_counter()
    stages = Stages()
    if wav is None:
        wav = audio_io.load_wav(options.audio)
    seconds = len(wav) / SAMPLE_RATE
    if not np.any(np.abs(wav) > 1e-4):
        raise InputError(options.audio, "the audio is silent throughout: nothing to lip-sync")
    transform = source.Transform(options.rotate, options.resize_factor, options.crop)
    face_source = source.FaceSource(options.face, transform, options.fps, options.static)
    fps = face_source.fps
    count = max(1, int(round(seconds * fps)))
    kind = ENGINES[options.engine].kind
    if engine is None or kind == FRAME:
        engine = ENGINES[options.engine].build(options.weights, options.width, options.batch_size)
    on_frames = kind == FRAME
    silent = frame_silence(wav, count, fps, options.silence_db) if options.silence != "off" else np.zeros(count, bool)
    if on_frames:
        if options.silence == "closed":
            wav = _silence_frames(wav, silent, fps)
        engine.begin(wav, fps, count)  # the speech is read on a thread while pass 1 runs

    measure = visibility.with_mouth_check(engine.measure if on_frames else None, visibility.MouthCheck())
    boxes, present, shots, records, people = _face_boxes(face_source, options, stages, options.progress, measure)
    mouths, views = visibility.split_records(records)
    hidden = visibility.hidden_mouths(views, shots)  # covered or turned-away mouths pass through
    if not present.any():
        if options.box is not None:
            raise InputError("--box", f"the face mesh finds no face in the box in any of the {len(present)} frames "
                                      "(give the face's box, forehead to chin)")
        raise InputError(options.face, f"no face found in any of its {len(present)} frames")
    schedule = face_source.schedule(count)
    keep_original = silent if options.silence == "original" else np.zeros(count, bool)
    plan = None
    if on_frames:
        windows = np.zeros((count, 0, 0), np.float32)  # the landmark predictor reads the samples
        started_plan = time.perf_counter()
        plan = engine.plan(mouths, shots, wav, fps, count)
        stages.add("predict", started_plan)
    else:
        windows = mel_windows(wav, count, fps, options.window_offset)
        if options.silence == "closed":
            windows[silent] = _silent_window()
    return Job(options, face_source, engine, fps, count, seconds, boxes, present, schedule, windows,
               keep_original, stages, started, plan, hidden, people=people)


def _silence_frames(wav, silent, fps):
    """`wav` with the samples of silent output frames set to zero (what --silence closed predicts from)."""
    wav = wav.copy()
    for j in np.flatnonzero(silent):
        wav[int(j / fps * SAMPLE_RATE):int((j + 1) / fps * SAMPLE_RATE)] = 0.0
    return wav

