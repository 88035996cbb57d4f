"""Face front-end speed: the detection stage (short range alone beside the scheduled scheme) and face mesh.

The detection stage is what `track.main_face` times as "detect": the shot-cut thumbnail plus the
detector. It is measured, in one run, at two sizes:

- 640x360: scikit-image's astronaut photo drifting on a grey canvas (a close-up);
- 1080x1920 portrait: the bundled photo's face pasted at 10 % of the width (about 50 px of face
  box), drifting on a plain background (a seated speaker in phone video).

For each, "short range alone" is the detection stage before full range and tiles (one short-range
call per frame), and "scheduled" is the one `main_face` runs now (`track.DetectionSchedule`: the
thorough pass on the first frame and every THOROUGH_EVERY frames, the fast pass between); the
thorough and fast passes alone are shown too. Face mesh is timed at 640x360. Each figure is the
median of several timed blocks after warm-up; the CPU is named from `lscpu`.

    python benchmarks/faces.py [--frames 120] [--portrait_frames 48]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def cpu_name():
    """The CPU's model name as `lscpu` gives it (or /proc/cpuinfo), and the CPUs this process has."""
    name = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} CPUs"


def rate(call, items, blocks=5):
    """Median items/s of call(item) over `blocks` passes through items, after a warm-up."""
    for item in items[:10]:
        call(item)
    rates = []
    for _ in range(blocks):
        started = time.perf_counter()
        for item in items:
            call(item)
        rates.append(len(items) / (time.perf_counter() - started))
    return statistics.median(rates)


def stage_rate(make_pass, frames, blocks=5):
    """Median frames/s of the detection stage over the frames, and the frames where a face was found.

    Args:
        make_pass: returns, for each block, a fresh detect(frame, thumbs) -> list of Detection.
        frames: RGB uint8 frames, in video order.
    """
    from tflipsync.faces import track

    def block():
        detect_frame, thumbs, found = make_pass(), [], 0
        for frame in frames:
            thumbs.append(track.thumbnail(frame))
            found += bool(detect_frame(frame, thumbs))
        return found

    found = block()  # warm-up
    rates = []
    for _ in range(blocks):
        started = time.perf_counter()
        block()
        rates.append(len(frames) / (time.perf_counter() - started))
    return statistics.median(rates), found


def portrait_frames(count):
    """The frames of benchmarks/sync.py's portrait clip: the bundled photo's face at 10 % of the
    width, drifting on a plain 1080x1920 frame."""
    from sync import small_face  # benchmarks/sync.py

    frame = small_face((1920, 1080))
    return [frame(i) for i in range(count)]


def detection(detector, name, frames):
    """Prints the detection-stage figures of one frame size."""
    from tflipsync.faces import detect, track

    height, width = frames[0].shape[:2]
    alone, alone_found = stage_rate(lambda: lambda f, thumbs: detector.short_range(f), frames)
    scheduled, found = stage_rate(lambda: track.DetectionSchedule(detector), frames)
    thorough = rate(detector.thorough, frames[:12], blocks=3)
    known = [detector.thorough(f) for f in frames]
    fast = rate(lambda pair: detector.fast(*pair), list(zip(frames, known)))
    print(f"{name}, {width}x{height}:")
    print(f"  short range alone (the stage before):        {alone:7.1f} frames/s  "
          f"(face on {alone_found}/{len(frames)})")
    print(f"  scheduled (thorough every {track.THOROUGH_EVERY}, fast between): {scheduled:7.1f} frames/s  "
          f"(face on {found}/{len(frames)}; {scheduled / alone:.2f}x short range alone)")
    print(f"  thorough pass alone:                         {thorough:7.1f} frames/s  "
          f"({1000 / thorough:.0f} ms, full range on {len(detect.tiles(height, width))} tiles)")
    print(f"  fast pass alone:                             {fast:7.1f} frames/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="frames at 640x360")
    parser.add_argument("--portrait_frames", type=int, default=48, help="frames at 1080x1920")
    args = parser.parse_args()

    from media import astronaut_frames
    from tflipsync.faces import detect, track
    from tflipsync.faces import mesh as face_mesh

    print(f"CPU: {cpu_name()}")
    landscape = astronaut_frames(args.frames, size=(360, 640))
    with detect.FaceDetector() as detector:
        detection(detector, "close-up (astronaut)", landscape)
        detection(detector, "small face in portrait video (10 % of the width)", portrait_frames(args.portrait_frames))
        found = [detector.short_range(f) for f in landscape]
        mesh = face_mesh.FaceMesh()
        pairs = [(f, d[0]) for f, d in zip(landscape, found) if d]
        meshed = rate(lambda p: mesh.landmarks(*p), pairs)
    thumbs = rate(track.thumbnail, landscape)
    print(f"face mesh (468 points, LiteRT, 1 thread), 640x360: {meshed:7.1f} frames/s")
    print(f"shot-cut thumbnail, 640x360:                      {thumbs:7.1f} frames/s")


if __name__ == "__main__":
    main()
