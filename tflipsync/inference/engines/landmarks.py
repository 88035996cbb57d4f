"""The `landmarks` engine of `sync` and `sticker`: predicted mouth landmarks drive a warp of the
face's own mouth (tflipsync/inference/warp.py). No pixel generator: it works on any face that BlazeFace and
the face mesh find, photographed or drawn, at any resolution.

Unlike the crop engines, it is a frame engine (the protocols: tflipsync/inference/engines/__init__.py):

1. pass 1 (detection): `measure` runs the face mesh on each detected face and keeps the face's
   own lips in pixels, its pose- and scale-free mouth shape and the transform between the two
   (tflipsync.landmarks.mouth.normalise): about 700 bytes per frame;
2. `plan`: the landmark predictor turns the speech into normalised mouth points for every
   output frame; their motion (prediction minus the predictor's mouth at rest, `mean_shape`)
   is added to each face's own mouth at rest, so the face keeps its own mouth. A photo's rest
   mouth is its mouth; a video's, per shot, the median of its least open quarter of frames, so
   a speaking video's own lip motion is replaced, not doubled;
3. pass 2: `warp` moves the frame's lips from where they are to the planned points, mapped
   back to pixels with that frame's own transform.

Where the mouth opens wider than the source frame showed, its interior comes from the clip
itself in a video: pass 1 offers every measured mouth to a bounded interior.InteriorBank (at most
256 small textures of open mouths, chosen to cover diverse shapes), and pass 2 blends the
entries nearest the planned inner-lip shape into the opening. In a video, what the source frame
itself shows between its lips (its own teeth or dark interior, from a mouth that moves
unrelated to the speech) is left out: the whole opening gets the interior for the target shape,
since the face mesh reads a frame's own teeth in a nearly closed opening as an open mouth
(docs/real_faces.md, "What limits the motion"). A photo, and a target for which
the clip has no open mouth of the kind, gets the interior synthesised from the face's colours
(tflipsync/inference/interior.py).

With --silence closed, the silent frames' samples are zeroed before the prediction, so they get
the predictor's mouth of silence: the face's own mouth at rest.
"""

import collections
import dataclasses

import numpy as np

from tflipsync.faces import detect, mesh as face_mesh
from tflipsync.inference import interior, warp
from tflipsync.errors import InputError
from tflipsync.inference.engines import short_description

MIN_PRESENCE = 0.5  # face-mesh presence below this: no usable face in the frame


@dataclasses.dataclass
class Mouth:
    """One face's mouth in one frame."""
    pixels: np.ndarray  # (K, 2) the mesh's mouth points in frame pixels
    shape: np.ndarray  # (K, 2) the same, normalised (pose- and scale-free)
    transform: object  # tflipsync.landmarks' transform for this frame (batch of one)
    key: int = -1  # the measurement's number (its interior bank entry's key)

    def eyes(self):
        """(2, 2) pixels: the eye centres of the normalised frame's unit (image left first)."""
        transform = np.asarray(self.transform, np.float64).reshape(2, 3)
        origin, axis = transform[:, 2], transform[:, 0]
        return np.stack([origin - axis / 2, origin + axis / 2])


@dataclasses.dataclass
class Plan:
    """What pass 2 needs: each source frame's mouth and rest shape, each output frame's motion."""
    mouths: list  # per source frame: Mouth or None
    rest: list  # per source frame: (K, 2) normalised rest shape or None
    motion: np.ndarray  # (count, K, 2) normalised motion per output frame
    video: bool = False  # more than one source frame has a mouth


def box_detection(box):
    """A Detection for a fixed (x0, y0, x1, y1) box (--box): level eyes where a face has them."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    keypoints = np.array([[x0 + 0.3 * w, y0 + 0.35 * h], [x0 + 0.7 * w, y0 + 0.35 * h],
                          [x0 + 0.5 * w, y0 + 0.55 * h], [x0 + 0.5 * w, y0 + 0.75 * h],
                          [x0, y0 + 0.4 * h], [x1, y0 + 0.4 * h]], np.float32)
    return detect.Detection(np.array([x0, y0, x1, y1], np.float32), 1.0, keypoints)


class LandmarkEngine:
    """ENGINES["landmarks"].build(weights, width, batch_size): the landmark predictor and the mouth warp.

    Args:
      weights: an articulation model (.npz) or a landmark LSTM (.weights.h5), None for the embedded
        predictor (tflipsync.landmarks.predictor.load).
      width: must be None (the landmark model has no width option here).
      batch_size: unused (frames are warped one by one).
      bank_size: the most mouth interiors kept from a video's own frames.
    """
    def __init__(self, weights, width, batch_size, bank_size=256):
        from tflipsync.landmarks import mouth as mouth_points, predictor as landmark_predictor

        if width is not None:
            raise InputError("--width", "the landmarks engine has no width; leave --width out")
        self._mouth_points = mouth_points
        self._predictor = landmark_predictor.load(weights)
        self.description = self._predictor.description
        self.short_description = short_description(weights, "landmarks")
        position = {int(index): k for k, index in enumerate(mouth_points.MOUTH)}
        self.mouth = np.asarray(mouth_points.MOUTH, int)
        self._outer = np.array([position[i] for i in face_mesh.OUTER_LIPS])
        self._inner = np.array([position[i] for i in face_mesh.INNER_LIPS])
        self._mesh = None
        self._warps = collections.OrderedDict()  # source frame -> MouthWarp, the last few
        self.bank = interior.InteriorBank(bank_size)
        self._measured = 0

    def measure(self, frame, detection):
        """The face mesh on one detected face: a Mouth, or None where the mesh finds no face."""
        if self._mesh is None:
            self._mesh = face_mesh.FaceMesh()
        mesh, presence = self._mesh.landmarks(frame, detection)
        if presence < MIN_PRESENCE:
            return None
        shape, transform = self._mouth_points.normalise(mesh[None])
        mouth = Mouth(mesh[self.mouth, :2].astype(np.float32), np.asarray(shape[0], np.float32), transform,
                      self._measured)
        self._measured += 1
        self.bank.offer(frame, mouth.pixels[self._inner].astype(np.float64), mouth.shape[self._inner], mouth.key)
        return mouth

    def begin(self, wav, fps, count):
        """Starts predicting the mouth of `count` frames at `fps` from speech `wav` on a thread, so
        that it runs while pass 1 detects faces (`plan` collects it)."""
        import concurrent.futures

        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mouth-predictor")
        self._pending = ((len(wav), float(fps), int(count)), executor.submit(self._predictor.predict, wav, fps, count))
        executor.shutdown(wait=False)

    def _predicted(self, wav, fps, count):
        """The prediction `begin` started for these arguments, or one made now."""
        pending, self._pending = getattr(self, "_pending", None), None
        if pending is not None and pending[0] == (len(wav), float(fps), int(count)):
            return pending[1].result()
        return self._predictor.predict(wav, fps, count)

    def plan(self, mouths, shots, wav, fps, count):
        """The Plan for `count` output frames at `fps` of speech `wav` (16 kHz float32).

        Args:
          mouths: per source frame, the main face's Mouth or None.
          shots: int (M,) shot number of each source frame.
        """
        predicted = np.asarray(self._predicted(wav, fps, count), np.float64)  # (count, K, 2)
        motion = predicted - np.asarray(self._predictor.mean_shape, np.float64)[None]
        rest = [None] * len(mouths)
        for shot in np.unique(shots):
            members = [i for i in np.flatnonzero(shots == shot) if mouths[i] is not None]
            if members:
                shapes = np.stack([mouths[i].shape for i in members])  # (n, K, 2)
                opening = np.array([warp.polygon_area(s[self._inner]) for s in shapes])
                shape = np.median(shapes[opening <= np.percentile(opening, 25)], axis=0)
                for i in members:
                    rest[i] = shape
        # the bank serves the main face's own frames, and a video only (a photo's one frame is
        # the source it would fill)
        measured = [m.key for m in mouths if m is not None]
        self.bank.use_only(measured if len(measured) > 1 else [])
        return Plan(list(mouths), rest, motion, video=len(measured) > 1)

    def _shape(self, plan, source_index, output_index):
        """(K, 2) the normalised mouth of source frame `source_index` in output frame `output_index`."""
        return plan.rest[source_index].astype(np.float64) + plan.motion[output_index]

    def targets(self, plan, source_index, output_index):
        """(K, 2) pixels the mouth of source frame `source_index` moves to in output frame `output_index`."""
        shape = self._shape(plan, source_index, output_index)
        return np.asarray(self._mouth_points.denormalise(shape[None], plan.mouths[source_index].transform),
                          np.float64)[0]

    def warp(self, frame, plan, source_index, output_index):
        """(the output frame, its mouth points (K, 2) in pixels)."""
        mouth = plan.mouths[source_index]
        mouth_warp = self._warps.get(source_index)
        if mouth_warp is None:
            pixels = mouth.pixels.astype(np.float64)
            # a video's frames show their own mouths, unrelated to the speech: their content stays out
            mouth_warp = warp.MouthWarp(frame, pixels[self._outer], pixels[self._inner], mouth.eyes(),
                                        own_content=not plan.video)
            self._warps[source_index] = mouth_warp
            while len(self._warps) > 8:
                self._warps.popitem(last=False)
        target = self.targets(plan, source_index, output_index)
        bank = None
        if len(self.bank):
            # chosen once per output frame (the blend's weights carry over to the next frame)
            weights, weight = self.bank.choose(self._shape(plan, source_index, output_index)[self._inner])
            if weights:
                bank = lambda field, lips: (*self.bank.texture(field, weights, lips, weight), weight)  # noqa: E731
        return mouth_warp(frame, target[self._outer], target[self._inner], bank), target
