"""End-to-end `tflipsync sync` speed: frames/s, seconds per stage and peak memory, per engine.

The inputs are clips made here at 25 fps, with the bundled speech (examples/speech.wav) repeated
to the clip's length (`CLIPS`):

- `640x360`: scikit-image's astronaut photo drifting on a 640x360 canvas (a close-up), H.264;
- `portrait-h264`, `portrait-hevc`: portrait phone video, 1080x1920, the bundled photo's face
  pasted at 10 % of the width (`tests/media.pasted_faces`) drifting on a plain background, in
  H.264 and in HEVC (libx265; reported as skipped where PyAV lacks it).

Each engine runs in its own process (so peak RSS is its own), on the threads the machine has.
Stage seconds are each stage's own busy time; the stages run concurrently, so they add up to
more than the wall time, and the slowest stage bounds frames/s end to end (printed with the
rate it alone would allow). "face" is the share of frames where a face was found.

    python benchmarks/sync.py [--seconds 10] [--engines keras-embedded,keras-w1] [--clips portrait-h264]
    python benchmarks/sync.py --memory [--size 720x1280] [--minutes 1,10]   # streaming check

`--memory` runs sync on videos of each length (the embedded model, to keep it short) and prints
peak RSS for each and their ratio: memory must not grow with the video's length.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ENGINES = {
    # name: (engine, weights recipe, description)
    "keras-embedded": ("keras", None, "Keras fp32, the embedded width-0.25 model"),
    "tflite-fp32-embedded": ("tflite", ("fp32", None), "TFLite fp32 (tf.lite), embedded model"),
    "tflite-int8-embedded": ("tflite", ("int8", None), "TFLite int8 (tf.lite), embedded model"),
    "savedmodel-embedded": ("savedmodel", "savedmodel", "SavedModel (uint8 serving_default), embedded"),
    "keras-w1": ("keras", "random-1.0", "Keras fp32, width 1.0 (random weights: speed only)"),
    "tflite-fp32-w1": ("tflite", ("fp32", 1.0), "TFLite fp32 (tf.lite), width 1.0 (random weights)"),
    "tflite-int8-w1": ("tflite", ("int8", 1.0), "TFLite int8 (tf.lite), width 1.0 (random weights)"),
    "landmarks": ("landmarks", None, "landmarks: embedded articulation model + mouth warp"),
}


def prepare_weights(recipe, folder):
    """(weights path, width) for an ENGINES recipe; files are made before timing starts.

    int8 files here are calibrated on 32 random inputs: these runs measure speed only (quality per
    mode on real samples is `tflipsync export tflite`'s report).
    """
    import keras
    import numpy as np

    from tflipsync.weights import bundled
    from tflipsync import models

    if recipe is None:
        return None, None
    if recipe == "random-1.0":
        keras.utils.set_random_seed(0)
        path = os.path.join(folder, "random_w1.weights.h5")
        models.build_generator(1.0).save_weights(path)
        return path, 1.0
    if recipe == "savedmodel":
        from tflipsync.deploy import saved_model
        return saved_model.export(bundled.load("generator"), os.path.join(folder, "models"), "g", 1), None
    from tflipsync import files
    from tflipsync.deploy import tflite

    mode, width = recipe
    if width is None:
        model = bundled.load("generator")
    else:
        keras.utils.set_random_seed(0)
        model = models.build_generator(width)
    rng = np.random.default_rng(0)
    calibration = {"mel": rng.uniform(-4, 4, (32, 80, 16, 1)).astype(np.float32),
                   "face": rng.uniform(0, 1, (32, 96, 96, 6)).astype(np.float32)}
    content, _ = tflite.convert("generator", model, mode, batch=1, calibration=calibration, log=lambda line: None)
    path = os.path.join(folder, f"{mode}_{width}.tflite")
    files.write_bytes(path, content)
    return path, None


CLIPS = {
    # name: (height x width, video encoder, picture, description)
    "640x360": ((360, 640), "libx264", "close-up", "640x360 close-up, H.264"),
    "portrait-h264": ((1920, 1080), "libx264", "small-face", "1080x1920 portrait, face 10 % of the width, H.264"),
    "portrait-hevc": ((1920, 1080), "libx265", "small-face", "1080x1920 portrait, face 10 % of the width, HEVC"),
}


def close_up(size):
    """frame(i) of the astronaut photo drifting on a grey canvas of size (H, W), scaled to its height."""
    import numpy as np
    from skimage import data

    height, width = size
    photo = data.astronaut()[40:400, 60:460]
    scale = height / 360.0
    if scale != 1.0:
        import cv2
        photo = cv2.resize(photo, (int(photo.shape[1] * scale), int(photo.shape[0] * scale)))

    def frame(i):
        canvas = np.full((height, width, 3), 90, np.uint8)
        x = int(round(width * 0.16 + np.sin(i / 7.0) * 10 * scale))
        canvas[:, x:x + photo.shape[1]] = photo[:height, :width - x]
        return canvas
    return frame


def small_face(size, share=0.10):
    """frame(i) of the bundled photo's face at `share` of the width, drifting on a plain frame."""
    import numpy as np

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from media import pasted_faces

    height, width = size
    return lambda i: pasted_faces(size, share, [(width * (0.5 + 0.03 * np.sin(i / 7.0)),
                                                 height * (0.36 + 0.01 * np.cos(i / 9.0)))])[0]


def make_clip(path, seconds, size, fps=25, codec="libx264", picture="close-up"):
    """Writes a benchmark clip (video + AAC speech) frame by frame; returns the path.

    Args:
        picture: "close-up" (`close_up`) or "small-face" (`small_face`).
    """
    import av
    import numpy as np

    from tflipsync.audio import io as audio_io
    from tflipsync.conventions import SAMPLE_RATE

    height, width = size
    frame = (close_up if picture == "close-up" else small_face)(size)
    speech = audio_io.load_wav(os.path.join(ROOT, "examples", "speech.wav"))
    total = int(seconds * SAMPLE_RATE)
    samples = np.tile(speech, total // len(speech) + 1)[:total].astype(np.float32)
    with av.open(path, mode="w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": "23", "preset": "veryfast"}
        if codec == "libx265":
            video.options["x265-params"] = "log-level=error"
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        for i in range(int(seconds * fps)):
            picture = av.VideoFrame.from_ndarray(frame(i), format="rgb24")
            picture.pts = i
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for start in range(0, total, 1024):
            piece = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
            piece.sample_rate, piece.pts = SAMPLE_RATE, start
            for packet in sound.encode(piece):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    return path


def peak_rss_mib():
    """This process's own peak resident memory, MiB.

    Linux's VmHWM, not getrusage's ru_maxrss: ru_maxrss survives fork and exec, so a child started
    by a parent that had grown (converting models, say) would report the parent's peak as its own.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args):
    """Runs one sync in this process and prints its summary with peak RSS as JSON."""
    from tflipsync.inference import sync

    summary = sync.run_sync(sync.Options(face=args.face, audio=args.face, out=args.out, weights=args.weights,
                                         width=args.width, engine=args.engine, progress=False))
    summary["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps({k: v for k, v in summary.items() if k != "weights"}, default=str))


def run_child(face, out, engine, weights=None, width=None):
    command = [sys.executable, os.path.abspath(__file__), "--child", "--face", face, "--out", out,
               "--engine", engine]
    if weights:
        command += ["--weights", weights]
    if width is not None:
        command += ["--width", str(width)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"sync failed: {result.stderr[-2000:]}")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    summary["wall_with_startup"] = time.perf_counter() - started
    return summary


def encoder_available(codec):
    import av

    return codec in av.codecs_available


def speed(args, folder):
    from faces import cpu_name  # benchmarks/faces.py

    print(f"input: {args.seconds:g} s at 25 fps; CPU: {cpu_name()}")
    weights = {}
    for clip_name in args.clips.split(","):
        size, codec, picture, description = CLIPS[clip_name]
        if not encoder_available(codec):
            print(f"\n{description}: skipped, this PyAV has no {codec} encoder")
            continue
        clip = make_clip(os.path.join(folder, f"{clip_name}.mp4"), args.seconds, size, codec=codec, picture=picture)
        print(f"\n{description}")
        print(f"{'engine':52s} {'frames/s':>8s} {'face':>5s}  {'decode':>6s} {'detect':>6s} {'mesh':>6s} "
              f"{'generate':>8s} {'paste':>6s} {'warp':>6s} {'encode':>6s}  {'peak RSS':>8s}  slowest stage")
        for name in args.engines.split(","):
            engine, recipe, engine_description = ENGINES[name]
            if name not in weights:
                weights[name] = prepare_weights(recipe, folder)
            s = run_child(clip, os.path.join(folder, f"{clip_name}-{name}.mp4"), engine, *weights[name])
            t = s["stages"]
            slowest = max(t, key=t.get)
            face = 1 - s.get("no_face", 0) / max(s["frames"], 1)
            print(f"{engine_description:52s} {s['frames'] / s['elapsed']:8.1f} {face:5.1%}  {t['decode']:6.2f} "
                  f"{t['detect']:6.2f} {t.get('mesh', 0.0):6.2f} {t['generate']:8.2f} {t['paste']:6.2f} {t.get('warp', 0.0):6.2f} {t['encode']:6.2f}  "
                  f"{s['peak_rss_mib']:6.0f} MiB  {slowest} ({s['frames'] / max(t[slowest], 1e-9):.0f} frames/s alone)",
                  flush=True)


def memory(args, folder):
    height, width = (int(v) for v in args.size.split("x"))
    peaks = []
    for minutes in (float(m) for m in args.minutes.split(",")):
        clip = make_clip(os.path.join(folder, f"clip_{minutes:g}min.mp4"), minutes * 60, (height, width))
        s = run_child(clip, os.path.join(folder, f"out_{minutes:g}min.mp4"), "keras")
        peaks.append(s["peak_rss_mib"])
        print(f"{minutes:g} min {width}x{height}: {s['frames']} frames in {s['elapsed']:.0f} s "
              f"({s['frames'] / s['elapsed']:.1f} frames/s), peak RSS {s['peak_rss_mib']:.0f} MiB", flush=True)
        os.remove(clip)
    print(f"peak RSS ratio longest / shortest: {peaks[-1] / peaks[0]:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--clips", default=",".join(CLIPS), help=f"inputs, of {', '.join(CLIPS)}")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--size", default="720x1280", help="HEIGHTxWIDTH for --memory")
    parser.add_argument("--minutes", default="1,10", help="video lengths for --memory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--face", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="keras", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as folder:
        (memory if args.memory else speed)(args, folder)


if __name__ == "__main__":
    main()
