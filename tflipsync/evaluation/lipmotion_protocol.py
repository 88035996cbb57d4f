"""The lip-motion protocol over a corpus filelist: per clip and engine, photo and video mode,
the figures of tflipsync/evaluation/lipmotion.py, the audio baselines, and medians over clips.

The corpus is a folder like ../shared/corpus/real: `manifest.tsv` (file, speaker, fps, ...) and
split files (`train.txt`, `val.txt`, `test.txt`) of `clips/<name>.mp4` lines. Every input and
output of `sync` lives in a temporary folder; real clips' measurements and the ridge anchor are
cached in `cache_dir`.
"""

import csv
import hashlib
import os
import tempfile
import time

import numpy as np

from tflipsync.errors import InputError
from tflipsync.evaluation import anchor as ridge_anchor, lipmotion

MODES = ("photo", "video")
OUTPUT_KEYS = ("r", "landmark_distance", "mesh_found", "sharpness", "lse_d", "lse_c")
CLIP_KEYS = ("loudness_r", "ridge_r", "source_r", "truth_lse_d", "truth_lse_c")
ANCHOR_FILE = "ridge_anchor.npz"


def read_manifest(corpus_dir):
    """{file (as in the split files): manifest row dict}; {} where there is no manifest."""
    path = os.path.join(corpus_dir, "manifest.tsv")
    if not os.path.isfile(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def read_filelist(path, corpus_dir):
    """The clips a split file names, as paths under corpus_dir (first token of each line;
    blank lines and '#' lines skipped).

    Raises:
      InputError: the filelist is missing, names nothing, or names a missing clip.
    """
    if not os.path.isfile(path):
        raise InputError(path, "no such filelist")
    clips = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            token = line.split()[0] if line.split() else ""
            if token and not token.startswith("#"):
                clip = token if os.path.isabs(token) else os.path.join(corpus_dir, token)
                if not os.path.isfile(clip):
                    raise InputError(clip, f"no such clip (listed in {path})")
                clips.append(clip)
    if not clips:
        raise InputError(path, "the filelist names no clips")
    return clips


def write_photo(clip, folder):
    """The clip's first frame as a PNG in folder; returns its path."""
    from tflipsync.media import images, video

    rgb, _ = next(iter(video.iter_frames(clip)))
    path = os.path.join(folder, "photo.png")
    images.write_png(path, rgb)
    return path


def write_reversed(clip, folder, fps):
    """The clip's frames in reverse order, without sound, as an mp4 at `fps`; returns its path."""
    from tflipsync.media import encode, video

    frames = [rgb for rgb, _ in video.iter_frames(clip)]
    path = os.path.join(folder, "reversed.mp4")
    with encode.VideoWriter(path, fps, frames[0].shape[:2]) as writer:
        for rgb in reversed(frames):
            writer.write(rgb)
    return path


def source_frames(mode, count, real_count):
    """int (count,): the real frame each output frame was made from (photo: frame 0; video: the
    reversed clip, played forwards then backwards as `sync` does when the audio is longer)."""
    from tflipsync.media import source

    if mode == "photo":
        return np.zeros(count, int)
    return real_count - 1 - source.pingpong(count, real_count)


def regions_of(real, sources):
    """Per output frame the sharpness region: the lower half of its source frame's padded box
    (NaN where the source frame has no face)."""
    regions = np.full((len(sources), 4), np.nan)
    for i, s in enumerate(sources):
        if real["present"][s]:
            regions[i] = lipmotion.lower_half(real["boxes"][s])
    return regions


def crops_at(clip, boxes):
    """uint8 (N, 96, 96, 3) BGR crops of a video's frames at padded boxes (N, 4)."""
    from tflipsync.faces import crop
    from tflipsync.media import video

    out = np.zeros((len(boxes), 96, 96, 3), np.uint8)
    for i, (rgb, _) in enumerate(video.iter_frames(clip)):
        if i < len(boxes):
            out[i] = crop.face_crop(rgb, boxes[i].astype(int))[..., ::-1]
    return out


def expert_figures(embedder, crops, wav, fps):
    """(LSE-D, LSE-C) of 96x96 BGR uint8 crops (N, ...) with 16 kHz speech at `fps`
    (tflipsync/evaluation/sync.py); NaN for a clip too short for the +-15 frame search."""
    from tflipsync.audio import mel as audio_mel
    from tflipsync.evaluation import sync

    mel = audio_mel.melspectrogram(wav).T  # (M, 80) time-major
    mel_starts = [int(80.0 * i / fps) for i in range(len(crops))]
    num_audio = min(sync.audio_frames(mel_starts, len(mel)), len(crops))
    starts = sync.sync_window_starts(0, num_audio, num_audio, 0)
    if starts.size == 0:
        return float("nan"), float("nan")
    audio = embedder.embed_audio(sync.mel_windows(mel, mel_starts, range(num_audio)))
    faces = embedder.embed_face(sync.lower_half_windows(crops.astype(np.float32) / 255.0, starts))
    scores = sync.sync_scores(faces, audio, starts)
    return scores["lse_d"], scores["lse_c"]


def compare(real, output, sources, source_sharpness):
    """The figures of one output against its real clip (lipmotion module docstring)."""
    r, lag = lipmotion.best_lag_r(output["opening"], real["opening"])
    return {"r": r, "lag": lag, "landmark_distance": lipmotion.landmark_distance(output["points"], real["points"]),
            "mesh_found": lipmotion.mesh_found_share(output["presence"]),
            "sharpness": lipmotion.sharpness_ratio(output["sharpness"], source_sharpness[sources]),
            "frames": len(output["opening"])}


def anchor_key(clips, cache_dir):
    """What the anchor was fitted on: the cache names (name, size, mtime) of the train, val clips."""
    names = [[os.path.basename(lipmotion.cache_path(c, cache_dir)) for c in split] for split in clips]
    text = f"v{lipmotion.CACHE_VERSION}|{ridge_anchor.ALPHAS}|" + "|".join(",".join(n) for n in names)
    return hashlib.sha256(text.encode()).hexdigest()


def score(prediction, opening):
    return lipmotion.best_lag_r(prediction, opening)[0]


def clip_features(clip, measured):
    """The anchor's features of a measured clip's frames, from the clip's own speech."""
    from tflipsync.audio import io as audio_io

    return ridge_anchor.frame_features(audio_io.load_wav(clip), measured["fps"], len(measured["opening"]))


def load_or_fit_anchor(filelists, corpus_dir, cache_dir, measurer, progress=None):
    """The ridge anchor fitted on the clips of filelists[0] (train), alpha chosen on filelists[1]
    (val); kept in cache_dir and refitted when either list or one of its clips changed."""
    splits = [read_filelist(path, corpus_dir) for path in filelists]
    key = anchor_key(splits, cache_dir)
    path = os.path.join(cache_dir, ANCHOR_FILE)
    if os.path.isfile(path):
        loaded = ridge_anchor.RidgeAnchor.load(path)
        if loaded.key == key:
            return loaded
    data = []
    for split in splits:
        rows = []
        for n, clip in enumerate(split):
            measured = lipmotion.measure_clip(clip, measurer, cache_dir)
            rows.append((clip_features(clip, measured), measured["opening"]))
            if progress:
                progress(f"anchor: measured {n + 1}/{len(split)} {os.path.basename(clip)}")
        data.append(rows)
    fitted = ridge_anchor.fit_anchor(data[0], data[1], score, key=key)
    os.makedirs(cache_dir, exist_ok=True)
    from tflipsync import files

    with files.atomic_path(path) as temporary:
        fitted.save(temporary)
    return fitted


class _LazyMeasurer:
    """Makes the Measurer on first use (nothing is loaded while every clip is cached)."""

    def __init__(self):
        self.made = None

    def __call__(self):
        if self.made is None:
            self.made = lipmotion.Measurer()
        return self.made

    def close(self):
        if self.made is not None:
            self.made.__exit__()


def evaluate_clip(clip, engines, modes, measurer, cache_dir, anchor, embedder=None, speaker="", progress=None):
    """Every engine and mode on one clip; returns (clip row, output rows).

    Args:
      measurer: a callable returning the Measurer (made on first use).
      anchor: the RidgeAnchor (None: no ridge figures); embedder: the expert (or None: no LSE figures).
      others: as in `evaluate`.
    """
    from tflipsync.audio import io as audio_io
    from tflipsync.inference.options import Options
    from tflipsync.inference.sync import run_sync

    started = time.perf_counter()
    name = os.path.splitext(os.path.basename(clip))[0]
    real = lipmotion.measure_clip(clip, measurer, cache_dir)
    count, fps = len(real["opening"]), real["fps"]
    wav = audio_io.load_wav(clip)
    loud_r, loud_lag = lipmotion.best_lag_r(ridge_anchor.log_rms(wav, fps, count), real["opening"])
    ridge_r, ridge_lag = float("nan"), None
    if anchor is not None:
        ridge_r, ridge_lag = lipmotion.best_lag_r(anchor.predict(ridge_anchor.frame_features(wav, fps, count)),
                                                  real["opening"])
    reverse = source_frames("video", count, count)
    row = {"clip": name, "speaker": speaker, "frames": count, "fps": fps,
           "real_mesh_found": lipmotion.mesh_found_share(real["presence"]),
           "loudness_r": loud_r, "loudness_lag": loud_lag, "ridge_r": ridge_r, "ridge_lag": ridge_lag,
           "source_r": lipmotion.best_lag_r(real["opening"][reverse], real["opening"])[0]}
    if embedder is not None:
        row["truth_lse_d"], row["truth_lse_c"] = expert_figures(embedder, crops_at(clip, real["boxes"]), wav, fps)
    outputs = []
    with tempfile.TemporaryDirectory(prefix="lipmotion-") as folder:
        faces = {"photo": write_photo(clip, folder) if "photo" in modes else None,
                 "video": write_reversed(clip, folder, fps) if "video" in modes else None}
        for engine, weights in engines.items():
            for mode in modes:
                out = os.path.join(folder, f"{engine}-{mode}.mp4")
                result = {"clip": name, "engine": engine, "mode": mode}
                began = time.perf_counter()
                try:
                    summary = run_sync(Options(face=faces[mode], audio=clip, out=out, engine=engine, weights=weights,
                                               fps=fps, progress=False))
                except InputError as err:
                    outputs.append({**result, "error": str(err), **{k: float("nan") for k in OUTPUT_KEYS}})
                    continue
                result["sync_seconds"] = time.perf_counter() - began
                sources = source_frames(mode, summary["frames"], count)
                measured = lipmotion.measure_video(out, measurer(), regions_of(real, sources), embedder is not None)
                result.update(compare(real, measured, sources, real["sharpness"]))
                if embedder is not None:
                    result["lse_d"], result["lse_c"] = expert_figures(embedder, measured["crops"], wav, fps)
                result["seconds"] = time.perf_counter() - began
                outputs.append(result)
                os.remove(out)
    row["seconds"] = time.perf_counter() - started
    if progress:
        progress(f"{name}: {count} frames, {row['seconds']:.1f} s")
    return row, outputs


def _median(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(values)) if values else float("nan")


def medians(clip_rows, output_rows):
    """Medians over clips: per (engine, mode) of OUTPUT_KEYS, and of the clips' CLIP_KEYS."""
    groups = {}
    for row in output_rows:
        groups.setdefault((row["engine"], row["mode"]), []).append(row)
    per_output = [{"engine": engine, "mode": mode, "clips": len(rows),
                   "failed": sum(1 for r in rows if "error" in r),
                   **{k: _median([r.get(k) for r in rows]) for k in OUTPUT_KEYS}}
                  for (engine, mode), rows in groups.items()]
    per_clip = {k: _median([r.get(k) for r in clip_rows]) for k in CLIP_KEYS}
    return per_output, per_clip


def evaluate(clips, engines, modes=MODES, corpus_dir=None, cache_dir="runs/lipmotion_cache", expert=None,
             anchor_filelists=("train.txt", "val.txt"), progress=None):
    """The protocol over clips; returns the report dict (JSON-ready).

    Args:
      clips: clip paths (read_filelist).
      engines: {engine name: weights path or None (the embedded model)}.
      modes: of MODES.
      corpus_dir: the corpus folder (manifest.tsv, train.txt, val.txt for the ridge anchor).
      cache_dir: where measurements of real clips and the anchor are kept.
      expert: None (no LSE figures), "embedded", or an expert's weights path.
      anchor_filelists: the (train, val) filelists of the ridge anchor, relative to corpus_dir;
        None: no ridge figures.
      progress: optional progress(line).
    """
    from tflipsync.evaluation import judges

    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise InputError("--modes", f"must be some of {', '.join(MODES)}, got {','.join(modes)}")
    manifest = read_manifest(corpus_dir)
    measurer = _LazyMeasurer()
    try:
        anchor = None
        if anchor_filelists:
            lists = [os.path.join(corpus_dir, name) for name in anchor_filelists]
            anchor = load_or_fit_anchor(lists, corpus_dir, cache_dir, measurer, progress)
        embedder = None if expert is None else judges.sync_judge(None if expert == "embedded" else expert)
        clip_rows, output_rows = [], []
        for clip in clips:
            speaker = manifest.get(os.path.relpath(clip, corpus_dir), {}).get("speaker", "")
            row, outputs = evaluate_clip(clip, engines, modes, measurer, cache_dir, anchor, embedder, speaker,
                                         progress)
            clip_rows.append(row)
            output_rows += outputs
    finally:
        measurer.close()
    per_output, per_clip = medians(clip_rows, output_rows)
    return {"protocol": "lipmotion", "engines": {k: v or "embedded" for k, v in engines.items()},
            "modes": list(modes), "max_lag": lipmotion.MAX_LAG,
            "anchor": None if anchor is None else {
                "filelists": list(anchor_filelists), "alpha": anchor.alpha, "alphas": anchor.alphas.tolist(),
                "val_median_r": anchor.val_median_r.tolist()},
            "expert": None if embedder is None else embedder.description,
            "medians": per_output, "clip_medians": per_clip, "clips": clip_rows, "outputs": output_rows}
