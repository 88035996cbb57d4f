"""The redrawing of one batch of output frames: a crop engine's generated lower face pasted back,
or a frame engine's warp; frames without the face and kept silent frames pass through.

`--sketch` draws each output frame's landmark and edge sketch (tflipsync/inference/sketch.py).
"""

import time

import numpy as np

from tflipsync.faces import crop as face_crop
from tflipsync.inference import sketch as sketches


def frames_to_redraw(batch, first, job, counts):
    """(k, output frame j, source frame s) of the batch's frames an engine redraws; frames without
    the face, with a covered or turned-away mouth (job.hidden) and silent frames left as they are
    (--silence original) are counted instead."""
    work = []
    for k in range(len(batch)):
        j = first + k
        s = job.schedule[j]
        if not job.present[s]:
            counts["no_face"] += 1
        elif job.keep_original[j]:
            counts["silent"] += 1
        elif job.hidden is not None and job.hidden[s]:
            counts[job.hidden[s]] += 1  # "occluded" or "profile": the mouth cannot be redrawn
        else:
            work.append((k, j, s))
    return work


def sync_batch(batch, first, job, paster, counts):
    """The output frames of one batch of decoded frames (first output index `first`), by a crop engine.

    Every face to redraw in the batch (one per frame, or each face with --who all) is cropped
    first; the engine gets all the crops at once (in calls of at most its batch size).
    """
    stages = job.stages
    started = time.perf_counter()
    work, crops, mels = [], [], []
    frames = frames_to_redraw(batch, first, job, counts)
    for k, j, s in frames:
        for box in job.faces(s):
            work.append((k, box))
            # crop engines take the crops in the frames' own RGB order and convert once themselves
            crops.append(face_crop.face_crop(batch[k], box))
            mels.append(job.windows[j])
    stages.add("paste", started)
    out = list(batch)
    if work:
        started = time.perf_counter()
        step = getattr(job.engine, "batch_size", len(work))
        generated = np.concatenate([job.engine(np.stack(mels[n:n + step]), np.stack(crops[n:n + step]))
                                    for n in range(0, len(work), step)])  # (b, 96, 96, 3) uint8 RGB
        stages.add("generate", started)
        started = time.perf_counter()
        for (k, box), face in zip(work, generated):
            out[k] = paster.paste(out[k], box, face)  # faces of one frame are pasted one over another
        stages.add("paste", started)
    counts["generated"] += len(frames)
    return out


def warp_batch(batch, first, job, counts):
    """A frame engine's output frames of one batch and their mouth points (None: unchanged)."""
    started = time.perf_counter()
    out, points = list(batch), [None] * len(batch)
    for k, j, s in frames_to_redraw(batch, first, job, counts):
        out[k], points[k] = job.engine.warp(batch[k], job.plan, s, j)
        counts["generated"] += 1
    job.stages.add("warp", started)
    return out, points


def sketch_frame(job, frame, j, points):
    """Output frame j's landmark and edge sketch: its face box and, from a frame engine, its lips."""
    started = time.perf_counter()
    s = job.schedule[j]
    outer, inner = sketches.lips(points, job.engine.mouth) if points is not None else (None, None)
    drawn = sketches.draw(frame, job.boxes[s] if job.present[s] else None, outer, inner)
    job.stages.add("sketch", started)
    return drawn

