"""Pass 2 of a lip-sync job: decode, redraw and encode on three threads.

A reader thread decodes the frames of the output schedule (a video shorter than the audio plays
forwards and backwards), the calling thread redraws them in batches (tflipsync/inference/redraw.py)
and a writer thread hands them to `write`; the queues between them are bounded, so memory does
not grow with the video's length.
"""

import queue
import threading
import time

from tflipsync.inference import paste, redraw
from tflipsync.errors import InputError

_DONE = object()


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


def render(job, write, sketch=None):
    """Pass 2: decodes, generates, pastes and hands each output frame (RGB uint8) to `write`.

    `write` runs on its own thread; the queues between the three threads hold at most two
    batches each. Returns the counts of generated, faceless, occluded, profile and silent
    frames. `sketch`, if given, gets each output frame's sketch (tflipsync/inference/sketch.py)
    on the same thread.
    """
    from tqdm import tqdm

    options = job.options
    if sketch is not None:
        write = _both(write, sketch)
    paster = paste.Paster(options.feather, options.colour_match)
    frames_in, frames_out = queue.Queue(maxsize=2 * options.batch_size), queue.Queue(maxsize=2 * options.batch_size)
    stop = threading.Event()
    counts = {"generated": 0, "no_face": 0, "silent": 0, "occluded": 0, "profile": 0}
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
                    frames, points = redraw.warp_batch(batch, j, job, counts)
                else:
                    frames, points = redraw.sync_batch(batch, j, job, paster, counts), [None] * len(batch)
                for k, frame in enumerate(frames):
                    if sketch is not None:
                        frame = (frame, redraw.sketch_frame(job, frame, j + k, points[k]))
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
            "small_face": paste.small_face(job.boxes, job.present),
            "model": job.engine.short_description,
            "elapsed": time.perf_counter() - job.started, "stages": dict(job.stages.seconds), **counts, **extra}


def _drain(q):
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass

