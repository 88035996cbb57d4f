"""Training-data speed: the tf.data pipelines against a JPEG loader in the original's layout and method.

The clip records are first exported to the original's layout (`<root>/<group>/<id>/<frame>.jpg`
at cv2's default JPEG quality, present frames only, and a 16 kHz `audio.wav`). The baseline then
does per sample what color_syncnet_train.py / wav2lip_train.py do: a random video, glob of its
jpgs, random frames, cv2.imread and cv2.resize of each of the 5 (expert) or 10 (generator)
frames, /255, lower half or masking, audio.wav loaded and the whole mel spectrogram computed for
the sample, then sliced; samples are stacked into batches like PyTorch's default collate. It is
measured in this process and with 2 worker processes (a DataLoader with num_workers=2). The
baseline reads the 96x96 crops of the records; the original reads the detector's larger crops and
resizes them, so its real cost is higher than measured here.

    python benchmarks/data.py --fake 20 [--seconds 8] [--batch_size 64] [--json out.json]
    python benchmarks/data.py --data DATA_DIR
"""

import argparse
import collections
import glob
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time

import cv2
import numpy as np
import scipy.io.wavfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tflipsync.audio import mel as audio_mel, windows as audio_windows  # noqa: E402
from tflipsync.conventions import SAMPLE_RATE  # noqa: E402
from tflipsync.data import records  # noqa: E402

T = 5
IMG_SIZE = 96
FPS = 25  # hparams.fps: the original assumes 25 fps for every video


def write_fake_clips(out_dir, count, frames=125, seed=0):
    """Writes `count` clip records of smooth random pixels, a few absent faces, random audio."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        n = frames + int(rng.integers(-10, 10))
        pattern = cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (160, 160),
                             interpolation=cv2.INTER_CUBIC)
        crops = np.stack([pattern[i % 64 // 2:][:96, i % 50:][:, :96] for i in range(n)])
        crops = np.clip(crops + rng.normal(0, 4, crops.shape), 0, 255).astype(np.uint8)
        wav = (0.1 * rng.standard_normal(n * SAMPLE_RATE // FPS + 800)).astype(np.float32)
        present = rng.random(n) > 0.05
        records.write_clip(os.path.join(out_dir, f"fake{index // 10:03d}", f"{index:05d}.tfrecord"), {
            "frames": crops, "present": present, "mel_starts": audio_windows.window_starts(np.arange(n), FPS),
            "times": np.arange(n) / FPS, "boxes": np.zeros((n, 4)),
            "landmarks": np.full((n, records.MESH_POINTS, 3), np.nan), "audio": wav,
            "mel": audio_mel.melspectrogram(wav).T, "fps": FPS})


def export_jpeg_corpus(data_dir, out_dir):
    """The original's layout from clip records; returns the video folders."""
    videos = []
    for path in records.list_clips(data_dir):
        clip = records.read_clip(path)
        video = os.path.join(out_dir, os.path.relpath(path, data_dir)[:-len(records.EXTENSION)])
        os.makedirs(video, exist_ok=True)
        for index in np.flatnonzero(clip["present"]):
            cv2.imwrite(os.path.join(video, f"{index}.jpg"), clip["frames"][index])
        pcm = np.clip(clip["audio"] * 32767, -32768, 32767).astype(np.int16)  # ffmpeg's pcm_s16le
        scipy.io.wavfile.write(os.path.join(video, "audio.wav"), SAMPLE_RATE, pcm)
        videos.append(video)
    return videos


class JpegLoader:
    """The original datasets' __getitem__, in numpy (torch.FloatTensor becomes float32)."""

    def __init__(self, videos, kind, seed=0):
        self.videos, self.kind = videos, kind
        random.seed(seed)

    def window(self, name):
        start = int(os.path.basename(name).split(".")[0])
        names = [os.path.join(os.path.dirname(name), f"{i}.jpg") for i in range(start, start + T)]
        return names if all(os.path.isfile(n) for n in names) else None

    def read(self, names):
        frames = []
        for name in names:
            image = cv2.imread(name)
            if image is None:
                return None
            frames.append(cv2.resize(image, (IMG_SIZE, IMG_SIZE)))
        return frames

    def crop_mel(self, spec, frame):
        start = int(80.0 * (frame / float(FPS)))
        return spec[start:start + 16, :]

    def sample(self):
        while True:
            video = self.videos[random.randint(0, len(self.videos) - 1)]
            names = list(glob.glob(os.path.join(video, "*.jpg")))
            if len(names) <= 3 * T:
                continue
            name, wrong = random.choice(names), random.choice(names)
            while wrong == name:
                wrong = random.choice(names)
            frame = int(os.path.basename(name).split(".")[0])
            if self.kind == "expert":
                positive = random.choice([True, False])
                window = self.window(name if positive else wrong)
                frames = window and self.read(window)
                if not frames:
                    continue
            else:
                window, wrong_window = self.window(name), self.window(wrong)
                if window is None or wrong_window is None:
                    continue
                frames, wrong_frames = self.read(window), self.read(wrong_window)
                if frames is None or wrong_frames is None:
                    continue
            rate, pcm = scipy.io.wavfile.read(os.path.join(video, "audio.wav"))
            spec = audio_mel.melspectrogram(pcm.astype(np.float32) / 32768.0).T
            mel = self.crop_mel(spec.copy(), frame)
            if mel.shape[0] != 16:
                continue
            if self.kind == "expert":
                x = np.concatenate(frames, axis=2) / 255.0
                x = x[x.shape[0] // 2:]
                return x.astype(np.float32), mel.T[..., None], np.float32(positive)
            mels = [self.crop_mel(spec.copy(), f - 1) for f in range(frame, frame + T)]
            if any(m.shape[0] != 16 for m in mels):
                continue
            target = np.stack(frames) / 255.0
            masked = target.copy()
            masked[:, IMG_SIZE // 2:] = 0.0
            x = np.concatenate([masked, np.stack(wrong_frames) / 255.0], axis=-1)
            return (x.astype(np.float32), np.stack([m.T[..., None] for m in mels]),
                    mel.T[..., None], target.astype(np.float32))

    def batch(self, size):
        return [np.stack(parts) for parts in zip(*(self.sample() for _ in range(size)))]


_worker = None
_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(videos, kind, seed):
    global _worker
    cv2.setNumThreads(1)
    _worker = JpegLoader(videos, kind, seed + os.getpid())


def _worker_batch(size):
    return _worker.batch(size)


def rate(next_batch, batch_size, seconds, warmup=2):
    """samples/s of `next_batch` over about `seconds` after a warm-up."""
    for _ in range(warmup):
        next_batch()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        next_batch()
        count += batch_size
    return count / (time.perf_counter() - started)


def pool_rate(videos, kind, batch_size, seconds, workers=2, prefetch=2):
    """samples/s of the JPEG loader in `workers` processes, each `prefetch` batches ahead."""
    # One BLAS thread per worker (read when the spawned worker imports numpy): with the default
    # of one per core, two workers oversubscribe the cores and run slower than one process.
    threads = {name: os.environ.get(name) for name in _BLAS_THREADS}
    os.environ.update({name: "1" for name in _BLAS_THREADS})
    try:
        pool = multiprocessing.get_context("spawn").Pool(workers, _init_worker, (videos, kind, 0))
    finally:
        for name, value in threads.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
    with pool:
        pending = collections.deque(pool.apply_async(_worker_batch, (batch_size,))
                                    for _ in range(workers * prefetch))

        def next_batch():
            pending.append(pool.apply_async(_worker_batch, (batch_size,)))
            return pending.popleft().get()

        return rate(next_batch, batch_size, seconds)


def tf_rate(dataset, batch_size, seconds):
    iterator = iter(dataset)
    return rate(lambda: next(iterator), batch_size, seconds, warmup=5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder of clip records")
    parser.add_argument("--fake", type=int, help="benchmark N fake clips of ~125 frames instead")
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per figure")
    parser.add_argument("--batch_size", type=int,
                        help="batch size of both (default: 64 expert, 16 generator, as the original)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if (args.data is None) == (args.fake is None):
        parser.error("give exactly one of --data and --fake")

    from tflipsync.data import expert_dataset, generator_dataset

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data
        if args.fake is not None:
            data_dir = os.path.join(scratch, "records")
            write_fake_clips(data_dir, args.fake)
        videos = export_jpeg_corpus(data_dir, os.path.join(scratch, "jpeg"))
        results = {"cpus": os.cpu_count(), "clips": len(videos)}
        for kind, make, default_batch in [("expert", expert_dataset, 64),
                                          ("generator", generator_dataset, 16)]:
            batch = args.batch_size or default_batch
            loader = JpegLoader(videos, kind)
            single = rate(lambda: loader.batch(batch), batch, args.seconds)
            pooled = pool_rate(videos, kind, batch, args.seconds)
            piped = tf_rate(make(data_dir, batch), batch, args.seconds)
            best, workers = max((single, 1), (pooled, 2))
            results[kind] = {"batch_size": batch, "jpeg_1_process": single,
                             "jpeg_2_processes": pooled, "tf_data": piped,
                             "speedup": piped / best}
            print(f"{kind} JPEG loader: {single:7.1f} samples/s 1 process, "
                  f"{pooled:7.1f} samples/s 2 workers", flush=True)
            print(f"{kind} tf.data: {piped:7.1f} samples/s ({piped / best:.1f}x JPEG loader, "
                  f"{workers} worker{'s' if workers > 1 else ''}), batch {batch}, "
                  f"{os.cpu_count()} CPUs, {len(videos)} clips", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
