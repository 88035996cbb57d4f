"""Writes docs/side_by_side.png: input | output frames of `tflipsync sync` on a real face photo.

    python docs/side_by_side.py [--face examples/astronaut.jpg] [--audio examples/speech.wav]

Rows are output frames spread over the clip; each row shows the input photo, the lip-synced
frame, and both mouths enlarged (input left, output right), so seams and colour can be judged.
"""

import argparse
import os
import sys
import tempfile

import av
import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--face", default=os.path.join(ROOT, "examples", "astronaut.jpg"))
    parser.add_argument("--audio", default=os.path.join(ROOT, "examples", "speech.wav"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "side_by_side.png"))
    parser.add_argument("--rows", type=int, default=4)
    args = parser.parse_args()

    from tflipsync.media import images
    from tflipsync.inference import sync

    photo = images.read_image(args.face)
    with tempfile.TemporaryDirectory() as folder:
        video = os.path.join(folder, "out.mp4")
        summary = sync.run_sync(sync.Options(face=args.face, audio=args.audio, out=video, progress=False,
                                             silence="off"))
        with av.open(video) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    job_box = summary_box(photo)
    picks = np.linspace(len(frames) * 0.15, len(frames) * 0.85, args.rows).astype(int)
    rows = []
    for i in picks:
        x0, y0, x1, y1 = job_box
        heights = (photo.shape[0] // 2, photo.shape[0] - photo.shape[0] // 2)
        width = int(round(heights[0] * (x1 - x0) / (y1 - y0)))
        zoom = [cv2.resize(img[y0:y1, x0:x1], (width, h), interpolation=cv2.INTER_CUBIC)
                for img, h in zip((photo, frames[i]), heights)]
        rows.append(np.concatenate([photo, frames[i], np.concatenate(zoom, axis=0)], axis=1))
    sheet = np.concatenate(rows, axis=0)
    scale = min(1.0, 960 / sheet.shape[1])
    sheet = cv2.resize(sheet, (int(sheet.shape[1] * scale), int(sheet.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    images.write_png(args.out, sheet)
    print(f"wrote {args.out}: frames {list(picks)} of {len(frames)}; weights: {summary['weights']}")


def summary_box(photo):
    """The mouth region of the photo's face (from the detector) for the enlarged views."""
    from tflipsync.faces import crop, detect

    with detect.FaceDetector() as detector:
        found = detector.detect(photo)
    x0, y0, x1, y1 = crop.pad_box(found[0].box, photo.shape[:2])
    height = y1 - y0
    return int(x0), int(y0 + height * 0.45), int(x1), int(y1)


if __name__ == "__main__":
    main()
