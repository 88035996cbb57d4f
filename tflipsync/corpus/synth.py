"""`tflipsync synth`: a synthetic talking-face corpus whose mouth is a known function of its audio.

    tflipsync synth --out VIDEOS_DIR [--clips 20] [--seed 0] [--workers 2]

Layout, as LRS2: `VIDEOS_DIR/<speaker>/<id>.mp4` (H.264 yuv420p + AAC, 16 kHz mono) with its ground
truth `<id>.npz` beside it, and `VIDEOS_DIR/filelists/{train,val,test}.txt` (`<speaker>/<id>` lines,
a seeded 80/10/10 split by speaker when there are 3 or more speakers, so that validation
and test identities and voices are unseen in training; by clip otherwise). Speakers `s000`,
`s001`, ... hold `--clips_per_speaker` consecutive clips sharing one face identity and one voice;
ids `00000`, `00001`, ... count clips over the corpus. Everything depends only on (seed, clip index),
so a clip is the same whatever --clips and --workers are, and the same seed gives identical files.

Speech: espeak-ng speaks a sentence drawn from a word list (English voices mostly, some German,
French, Spanish and Italian), with a voice variant (+m1..+m7, +f1..+f4), pitch (30-70), rate
(120-200 wpm) and word gap per speaker; it is resampled to 16 kHz, scaled to a peak of 0.5, given
0.1-0.5 s of leading and trailing silence and a noise floor at -70 dBFS, and cut to whole frames.

The mouth of frame k (fps f, 16 kHz samples x) is a causal function of the audio:

1. levels: the frame's own samples x[n0:n1], n0 = k 16000 // f, n1 = (k + 1) 16000 // f, times a
   periodic Hann window w of that length, zero-padded to a power-of-two FFT; band level
   L = 10 log10(sum over the band's bins of |X|^2 / sum w^2 + 1e-10) dB for the bands
   [200, 1000) Hz (Lv, voiced / first formant), [1000, 2000) Hz (Lm) and [2000, 5000) Hz (Lh);
2. targets: opening o = clip((Lv + 30) / 40, 0, 1); gate = min(1, 2 o);
   width w = 0.5 + gate (clip((Lh - Lv + 22) / 22, 0, 1) - 0.5) (high over low band: spread lips);
   roundness r = gate clip((Lv - Lu - 2) / 20, 0, 1) with Lu = 10 log10(10^(Lm/10) + 10^(Lh/10)),
   the level of [1000, 5000) Hz (energy below 1 kHz over the energy above: a low second formant,
   rounded lips);
3. one-pole smoothing over earlier frames only, y_k = y_(k-1) + a (target_k - y_(k-1)) with
   a = 1 - exp(-1 / (f tau)): opening tau = 15 ms when rising and 60 ms when falling, width and
   roundness tau = 40 ms; y_(-1) = (0, 0.5, 0). Silence gives a closed mouth at rest.

The mouth is rendered into a real photo (tflipsync/corpus/synth_face.py): lower lip and jaw warped down
by the opening, the gap filled with a dark interior and teeth, the mouth scaled in width, the face
re-coloured, posed, drifting slowly, on a random background under random lighting. Frame sizes are
640x360, 480x360 or 640x480 and frame rates 25 (70 %), 30 or 24 fps.

Ground truth `<id>.npz` (np.load(..., allow_pickle=False)), T frames:
  opening, width, roundness  float32 (T,) in [0, 1]
  band_levels                float32 (T, 3) dB: Lv, Lm, Lh above
  outer_lips, inner_lips     float32 (T, 20, 2), (T, 12, 2) frame pixels (x, y); point order in
                             tflipsync/corpus/synth_face.py
  face_box                   float32 (T, 4) x0, y0, x1, y1 frame pixels (face-mesh extent)
  pose                       float32 (T, 2, 3) affine map from photo to frame pixels
  times                      float64 (T,) seconds, k / fps
  fps                        float64 (); frame_size int32 (2,): height, width
  audio                      int16 (N,) the 16 kHz audio before AAC; sample_rate int32 ()
  voice, rate, pitch, word_gap, text   str (the espeak-ng settings used)
  speaker str; clip, seed int64 (); mirrored bool ()
"""

import math
import multiprocessing
import os

import numpy as np
from absl import flags

from tflipsync import files
from tflipsync.corpus.speech import IDENTITY_STREAM, SCENE_STREAM, SPLIT_STREAM, clip_audio, espeak_path
from tflipsync.errors import InputError
from tflipsync.conventions import SAMPLE_RATE

BANDS = ((200.0, 1000.0), (1000.0, 2000.0), (2000.0, 5000.0))
ATTACK, RELEASE, SHAPE_TAU = 0.015, 0.060, 0.040
FRAME_RATES = (25,) * 14 + (30,) * 3 + (24,) * 3
FRAME_SIZES = ((360, 640),) * 5 + ((360, 480),) * 3 + ((480, 640),) * 2
SPLIT = (0.8, 0.1, 0.1)



def frame_bounds(k, fps):
    """Sample range [n0, n1) of frame k at an integer frame rate."""
    return k * SAMPLE_RATE // fps, (k + 1) * SAMPLE_RATE // fps


def band_levels(wav, fps, n_frames):
    """Levels (dB) of each frame's own samples in the three BANDS (module docstring, step 1).

    Returns:
        float32 (n_frames, 3); frames past the end of `wav` count as silence.
    """
    import scipy.signal

    wav = np.asarray(wav, dtype=np.float64)
    levels = np.full((n_frames, len(BANDS)), -100.0)
    for k in range(n_frames):
        n0, n1 = frame_bounds(k, fps)
        segment = wav[n0:n1]
        length = n1 - n0
        window = scipy.signal.get_window("hann", length)
        n_fft = 1 << max(0, (length - 1).bit_length())
        padded = np.zeros(length)
        padded[:segment.size] = segment
        power = np.abs(np.fft.rfft(padded * window, n_fft)) ** 2 / np.sum(window ** 2)
        hz = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
        for i, (lo, hi) in enumerate(BANDS):
            levels[k, i] = 10.0 * np.log10(power[(hz >= lo) & (hz < hi)].sum() + 1e-10)
    return levels.astype(np.float32)


def mouth_parameters(wav, fps, n_frames):
    """The mouth of every frame from 16 kHz audio (module docstring, steps 1 to 3).

    Returns:
        dict of float32 arrays: opening, width, roundness (n_frames,) in [0, 1], and band_levels
        (n_frames, 3).
    """
    levels = band_levels(wav, fps, n_frames).astype(np.float64)
    voiced, mid, high = levels[:, 0], levels[:, 1], levels[:, 2]
    opening = np.clip((voiced + 30.0) / 40.0, 0, 1)
    gate = np.minimum(1.0, 2.0 * opening)
    width = 0.5 + gate * (np.clip((high - voiced + 22.0) / 22.0, 0, 1) - 0.5)
    upper = 10.0 * np.log10(10.0 ** (mid / 10.0) + 10.0 ** (high / 10.0))
    roundness = gate * np.clip((voiced - upper - 2.0) / 20.0, 0, 1)
    step = lambda tau: 1.0 - math.exp(-1.0 / (fps * tau))
    attack, release, shape = step(ATTACK), step(RELEASE), step(SHAPE_TAU)
    state = np.array([0.0, 0.5, 0.0])
    out = np.zeros((n_frames, 3))
    for k in range(n_frames):
        target = np.array([opening[k], width[k], roundness[k]])
        rate = np.array([attack if target[0] > state[0] else release, shape, shape])
        state = state + rate * (target - state)
        out[k] = state
    out = out.astype(np.float32)
    return {"opening": out[:, 0], "width": out[:, 1], "roundness": out[:, 2],
            "band_levels": levels.astype(np.float32)}


def write_mp4(path, frames, size, fps, audio):
    """Writes RGB uint8 frames (an iterable) and 16 kHz mono float audio as an H.264 + AAC mp4.

    Args:
        path: output file (written as mp4 whatever its extension).
        frames: iterable of (H, W, 3) uint8 RGB frames; size: (H, W), both even; fps: int.
        audio: float (N,) samples in [-1, 1] at 16 kHz.
    """
    import av

    with av.open(path, mode="w", format="mp4") as container:
        video_stream = container.add_stream("libx264", rate=fps)
        video_stream.height, video_stream.width = size
        video_stream.pix_fmt = "yuv420p"
        # Reproducible bitstreams: one encoder thread (clips run in parallel instead), and no
        # macroblock tree, whose AVX-512 code reads uninitialised memory at some widths (at 480
        # pixels the same frames gave a different stream about one run in five).
        video_stream.options = {"crf": "18", "preset": "veryfast", "threads": "1",
                                "x264-params": "mbtree=0"}
        audio_stream = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        audio_stream.bit_rate = 64000
        for frame in frames:
            for packet in video_stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in video_stream.encode():
            container.mux(packet)
        samples = np.asarray(audio, dtype=np.float32)[None]  # (1, N): one planar channel
        for start in range(0, samples.shape[1], 1024):
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]),
                                               format="fltp", layout="mono")
            piece.sample_rate, piece.pts = SAMPLE_RATE, start
            for packet in audio_stream.encode(piece):
                container.mux(packet)
        for packet in audio_stream.encode():
            container.mux(packet)


def clip_name(index, clips_per_speaker):
    """(speaker, "<speaker>/<id>") of clip `index`."""
    speaker = index // clips_per_speaker
    return speaker, f"s{speaker:03d}/{index:05d}"


def make_clip(out_dir, seed, index, clips_per_speaker=5, min_seconds=2.0, max_seconds=6.0, base=None):
    """Writes one clip's npz and mp4 under out_dir, each atomically, the npz first.

    Args:
        out_dir: the corpus folder.
        seed: corpus seed.
        index: clip index; the clip depends on (seed, index) only.
        clips_per_speaker: consecutive clips sharing a speaker.
        min_seconds, max_seconds: clip duration range.
        base: the analysed photo (synth_face.base_photo() if None; passed to worker processes).

    Returns:
        the clip's name "<speaker>/<id>".
    """
    from tflipsync.corpus import synth_face

    speaker, name = clip_name(index, clips_per_speaker)
    rng = np.random.default_rng([seed, SCENE_STREAM, index])
    fps = int(FRAME_RATES[rng.integers(len(FRAME_RATES))])
    size = FRAME_SIZES[rng.integers(len(FRAME_SIZES))]
    wav, settings = clip_audio(seed, index, speaker, min_seconds, max_seconds)
    n_frames = len(wav) * fps // SAMPLE_RATE
    wav = wav[:frame_bounds(n_frames - 1, fps)[1]]
    mouth = mouth_parameters(wav, fps, n_frames)
    identity_rng = np.random.default_rng([seed, IDENTITY_STREAM, speaker])
    base = base if base is not None else synth_face.base_photo()
    renderer = synth_face.ClipRenderer(base, identity_rng, rng, size, fps)
    outer = np.zeros((n_frames, synth_face.N_OUTER, 2), np.float32)
    inner = np.zeros((n_frames, synth_face.N_INNER, 2), np.float32)
    boxes = np.zeros((n_frames, 4), np.float32)
    poses = np.zeros((n_frames, 2, 3), np.float32)

    def frames():
        for k in range(n_frames):
            frame, outer[k], inner[k], boxes[k], poses[k] = renderer.render(
                k, mouth["opening"][k], mouth["width"][k], mouth["roundness"][k])
            yield frame

    directory = os.path.join(out_dir, os.path.dirname(name))
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(out_dir, name)
    with files.atomic_path(stem + ".mp4") as video:
        write_mp4(video, frames(), size, fps, wav)
        record = dict(mouth, outer_lips=outer, inner_lips=inner, face_box=boxes, pose=poses,
                      times=np.arange(n_frames) / float(fps), fps=np.float64(fps),
                      frame_size=np.array(size, np.int32),
                      audio=np.round(np.clip(wav, -1, 1) * 32767).astype(np.int16),
                      sample_rate=np.int32(SAMPLE_RATE), speaker=np.str_(name.split("/")[0]),
                      clip=np.int64(index), seed=np.int64(seed), mirrored=np.bool_(renderer.mirrored),
                      **{key: np.str_(value) for key, value in settings.items()})
        with files.atomic_output(stem + ".npz") as f:
            np.savez_compressed(f, **record)
    return name


def split(names, seed):
    """Seeded train/val/test split: {"train": [...], "val": [...], "test": [...]}, each sorted.

    With 3 or more speakers the split is by speaker (80/10/10 of the speakers, at least one each
    for val and test), so validation and test identities and voices are never seen in training;
    with fewer, it is by clip (at least one clip each from 3 clips on).
    """
    speakers = sorted({name.split("/")[0] for name in names})
    units = speakers if len(speakers) >= 3 else list(names)
    n = len(units)
    n_val = n_test = max(1, round(SPLIT[1] * n)) if n >= 3 else 0
    order = np.random.default_rng([seed, SPLIT_STREAM, n]).permutation(n)
    parts = {"train": order[n_val + n_test:], "val": order[:n_val], "test": order[n_val:n_val + n_test]}
    chosen = {key: {units[i] for i in index} for key, index in parts.items()}
    unit_of = (lambda name: name.split("/")[0]) if units is speakers else (lambda name: name)
    return {key: sorted(name for name in names if unit_of(name) in members)
            for key, members in chosen.items()}


_BASE = None


def _init_worker(base):
    global _BASE
    _BASE = base


def _clip_task(args):
    return make_clip(*args, base=_BASE)


def synthesize(out_dir, clips=20, seed=0, workers=1, clips_per_speaker=5, min_seconds=2.0,
               max_seconds=6.0, progress=True):
    """Writes the corpus (module docstring) and its filelists; returns the split dict.

    Raises:
        InputError: espeak-ng is missing, or out_dir is not a folder.
    """
    from tqdm import tqdm

    from tflipsync.corpus import synth_face

    espeak_path()  # refuse at once, not in a worker
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(out_dir, "exists and is not a folder")
    if not 0 < min_seconds <= max_seconds:
        raise ValueError(f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}")
    os.makedirs(os.path.join(out_dir, "filelists"), exist_ok=True)
    base = synth_face.base_photo()
    tasks = [(out_dir, seed, i, clips_per_speaker, min_seconds, max_seconds) for i in range(clips)]
    names = []
    with tqdm(total=clips, unit="clip", desc="synth", disable=not progress) as bar:
        if workers > 1 and clips > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(workers, clips), _init_worker, (base,)) as pool:
                for name in pool.imap_unordered(_clip_task, tasks):
                    names.append(name)
                    bar.update(1)
        else:
            for task in tasks:
                names.append(make_clip(*task, base=base))
                bar.update(1)
    parts = split(sorted(names), seed)
    for key, entries in parts.items():
        files.write_bytes(os.path.join(out_dir, "filelists", f"{key}.txt"), "".join(f"{e}\n" for e in entries))
    return parts


def define_flags(flag_values):
    fv = {"flag_values": flag_values}
    flags.DEFINE_string("out", None, "the corpus folder (VIDEOS_DIR)", **fv)
    flags.DEFINE_integer("clips", 20, "number of clips", lower_bound=1, **fv)
    flags.DEFINE_integer("seed", 0, "corpus seed; a clip depends only on (seed, clip index)", **fv)
    flags.DEFINE_integer("workers", min(2, os.cpu_count() or 1), "clips made in parallel",
                         lower_bound=1, **fv)
    flags.DEFINE_integer("clips_per_speaker", 5, "consecutive clips sharing a face and a voice",
                         lower_bound=1, **fv)
    flags.DEFINE_float("min_seconds", 2.0, "shortest clip", lower_bound=0.5, **fv)
    flags.DEFINE_float("max_seconds", 6.0, "longest clip", lower_bound=0.5, **fv)
    flags.mark_flag_as_required("out", **fv)
    flags.register_multi_flags_validator(
        ["min_seconds", "max_seconds"], lambda v: v["min_seconds"] <= v["max_seconds"],
        "--min_seconds must not exceed --max_seconds", **fv)


def run(flag_values):
    parts = synthesize(flag_values.out, flag_values.clips, flag_values.seed, flag_values.workers,
                       flag_values.clips_per_speaker, flag_values.min_seconds, flag_values.max_seconds)
    counts = ", ".join(f"{key} {len(entries)}" for key, entries in parts.items())
    print(f"synth: {flag_values.clips} clips in {flag_values.out} ({counts})")
    return 0
