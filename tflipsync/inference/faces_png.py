"""`tflipsync faces`: the faces of a photo, or of a video's first frame with a face, boxed and numbered.

The numbers are the ones `--who N` takes (`sync`, `sticker`, `generate`): 1 is the leftmost face
(tflipsync/faces/people.py numbers them), found by the same detection pass as `sync`'s
(`track.main_face`). The PNG is written atomically (tflipsync/files.py) and one line per face is
printed: its number, its detector box (x0, y0, x1, y1) and its size in pixels.

This module is the command: its top imports nothing heavy, so `--help` and bad input answer at once.
"""

import os

from tflipsync.errors import InputError, require_file

COLOUR = (255, 210, 0)  # RGB: the boxes and numbers, drawn over a dark outline


def find_faces(path):
    """The faces of a photo, or of a video's first frame with a face, in their numbers' order.

    Returns:
      (frame index, RGB uint8 (H, W, 3) frame, list of Detection).

    Raises:
      InputError: the file is unreadable or no frame has a face.
    """
    from tflipsync.faces import detect, track
    from tflipsync.media import source

    face_source = source.FaceSource(path)
    with detect.FaceDetector() as detector:
        for index, frame in enumerate(face_source.scan()):
            face = track.main_face([frame], detector, radius=0, who="all")
            if face.numbered:
                return index, frame, face.numbered
    raise InputError(path, f"no face found in any of its {face_source.source_frames} frames")


def draw(frame, faces):
    """A copy of an RGB frame with each face boxed and numbered (1 for the first of `faces`)."""
    import cv2

    out = frame.copy()
    height, width = frame.shape[:2]
    thick = max(2, int(round(min(height, width) / 300)))
    for number, d in enumerate(faces, 1):
        x0, y0, x1, y1 = (int(round(float(v))) for v in d.box)
        scale = max(0.8, (x1 - x0) / 60.0)
        text = str(number)
        (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        # above the box where there is room, else inside its top
        origin = (max(0, x0), y0 - thick * 2 if y0 - text_h - thick * 2 >= 0 else y0 + text_h + thick * 2)
        for colour, extra in (((0, 0, 0), 2 * thick), (COLOUR, 0)):
            cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick + extra)
            cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick + extra, cv2.LINE_AA)
    return out


def run_faces(face, out):
    """Writes the numbered faces PNG; returns (frame index, list of Detection in their numbers' order)."""
    require_file(face, "a photo or a video")
    if os.path.splitext(out)[1].lower() != ".png":
        raise InputError(out, "the output must be a .png file")
    if os.path.abspath(out) == os.path.abspath(face):
        raise InputError(out, "the output path is the input; refusing to overwrite it")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise InputError(out, "its folder is missing or cannot be written to")
    import cv2

    from tflipsync import files

    index, frame, faces = find_faces(face)
    with files.atomic_path(out) as temporary:
        if not cv2.imwrite(temporary, draw(frame, faces)[..., ::-1]):
            raise InputError(out, "the PNG could not be written")
    return index, faces


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    flags.DEFINE_string("face", None, "Photo or video whose faces to number (a video: its first frame with a face).",
                        **fv)
    flags.DEFINE_string("out", None, "The PNG to write: the frame with each face boxed and numbered.", **fv)
    for name in ("face", "out"):
        flags.mark_flag_as_required(name, flag_values=flag_values)


def run(flag_values):
    index, faces = run_faces(flag_values.face, flag_values.out)
    for number, d in enumerate(faces, 1):
        x0, y0, x1, y1 = (int(round(float(v))) for v in d.box)
        print(f"{number}: box {x0},{y0},{x1},{y1} ({x1 - x0}x{y1 - y0} px)")
    where = "" if index == 0 else f" (frame {index}, the first with a face)"
    print(f"wrote {flag_values.out}: {len(faces)} face{'s' if len(faces) != 1 else ''} numbered from the "
          f"left{where}; choose one with --who N")
