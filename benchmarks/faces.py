"""Face front-end speed on 2 cores: BlazeFace detection and face mesh, frames/s at 640x360.

Frames are scikit-image's astronaut photo on a 640x360 canvas, drifting so that no two
consecutive frames are equal. Each figure is the median of several timed blocks after warm-up.

    python benchmarks/faces.py [--frames 300] [--size 360x640]
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def rate(call, items, blocks=5):
    for item in items[:10]:
        call(item)
    rates = []
    for _ in range(blocks):
        started = time.perf_counter()
        for item in items:
            call(item)
        rates.append(len(items) / (time.perf_counter() - started))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", default="360x640", help="HEIGHTxWIDTH")
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))

    from media import astronaut_frames
    from tflipsync.faces import detect, track
    from tflipsync.faces import mesh as face_mesh

    frames = astronaut_frames(args.frames, size=(height, width))
    with detect.FaceDetector() as detector:
        detected = rate(detector.detect, frames)
        found = [detector.detect(f) for f in frames]
        mesh = face_mesh.FaceMesh()
        pairs = [(f, d[0]) for f, d in zip(frames, found) if d]
        meshed = rate(lambda p: mesh.landmarks(*p), pairs)
    thumbs = rate(track.thumbnail, frames)
    print(f"face detection (MediaPipe BlazeFace short-range, {width}x{height}): {detected:7.1f} frames/s"
          f"  (face found on {len(pairs)}/{len(frames)} frames)")
    print(f"face mesh (468 points, LiteRT, 1 thread):              {meshed:7.1f} frames/s")
    print(f"shot-cut thumbnail:                                    {thumbs:7.1f} frames/s")
    print(f"detection + mesh + thumbnail per frame:                "
          f"{1 / (1 / detected + 1 / meshed + 1 / thumbs):7.1f} frames/s, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
