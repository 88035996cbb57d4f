"""`tflipsync preprocess`: videos to packed training clips (see tflipsync/data/records.py).

For each video: read its audio (16 kHz mono) and mel, detect faces on every frame, pick and
smooth the main face's box per shot (tflipsync/faces/track.py), then decode again to cut 96x96 BGR
crops and run the face mesh on frames with a face. One clip becomes one record file, written
atomically, so an interrupted run leaves no half-written clip and a rerun skips finished ones.
Clips that cannot be used are reported with their reason and skipped; the others go on.

    tflipsync preprocess --input VIDEOS_DIR_OR_FILELIST --out DATA_DIR [--workers N]

An input folder is searched recursively for videos and its layout is kept (LRS2's
`<group>/<id>.mp4` becomes `<group>/<id>.tfrecord`). An input file is a filelist: one video per
line, either a path or an LRS2 entry `<group>/<id>` (first token only), relative to --data_root
(default: the filelist's folder); `.mp4` is added where a line has no extension.
"""

import collections
import json
import multiprocessing
import os

import numpy as np
from absl import flags

from tflipsync import files
from tflipsync.faces import crop, detect, mesh as face_mesh, track
from tflipsync.media import video
from tflipsync.errors import InputError
from tflipsync.conventions import MEL_STEPS, SAMPLE_RATE, SYNC_FRAMES

MIN_FACE_FRAMES = 16  # the original skips clips with <= 3 * 5 = 15 face frames
WINDOW = SYNC_FRAMES
REPORT = "preprocess_report.json"


def find_videos(input_path, data_root=None):
    """Lists (source video, output stem relative to DATA_DIR) pairs for an input folder or filelist.

    Raises:
        InputError: the input is missing, or a filelist names nothing.
    """
    if os.path.isdir(input_path):
        pairs = []
        for root, dirs, names in os.walk(input_path):
            dirs.sort()
            for name in sorted(names):
                if name.lower().endswith(video.VIDEO_EXTENSIONS):
                    path = os.path.join(root, name)
                    pairs.append((path, os.path.splitext(os.path.relpath(path, input_path))[0]))
        if not pairs:
            raise InputError(input_path, "no video files found (looked for "
                             + ", ".join(video.VIDEO_EXTENSIONS) + ")")
        return pairs
    if not os.path.isfile(input_path):
        raise InputError(input_path, "no such file or folder")
    root = data_root or os.path.dirname(os.path.abspath(input_path))
    pairs = []
    with open(input_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            tokens = line.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            entry = tokens[0]
            stem, extension = os.path.splitext(entry)
            source = entry if extension else entry + ".mp4"
            source = source if os.path.isabs(source) else os.path.join(root, source)
            relative = os.path.basename(stem) if os.path.isabs(stem) else os.path.normpath(stem)
            pairs.append((source, relative))
    if not pairs:
        raise InputError(input_path, "filelist names no videos")
    return pairs


def _usable_windows(present):
    """Whether some run of WINDOW consecutive frames all have the face."""
    run = 0
    for p in present:
        run = run + 1 if p else 0
        if run >= WINDOW:
            return True
    return False


class _Worker:
    """Detector and mesh, made once per process."""

    detector = None
    mesh = None

    @classmethod
    def start(cls):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if cls.detector is None:
            cls.detector = detect.FaceDetector()
            cls.mesh = face_mesh.FaceMesh()


def process_clip(source, out_path):
    """Processes one video into a clip record.

    Returns:
        (status, reason): ("written", ""), or ("skipped", "<category>: <detail>") where the
        category is one of: corrupt, no video, no audio, no face, too short.
    """
    from tflipsync.audio import io as audio_io, mel as audio_mel
    from tflipsync.data import records

    _Worker.start()
    try:
        info = video.probe(source)
    except InputError as err:
        category = "no video" if "no video stream" in err.problem else "corrupt"
        return "skipped", f"{category}: {err.problem}"
    try:
        wav = audio_io.load_wav(source)
    except InputError as err:
        category = "no audio" if "no audio" in err.problem else "corrupt"
        return "skipped", f"{category}: {err.problem}"

    pts = []

    def frames():
        for rgb, time in video.iter_frames(source):
            pts.append(time)
            yield rgb

    try:
        face = track.main_face(frames(), _Worker.detector)
    except InputError as err:
        return "skipped", f"corrupt: {err.problem}"
    boxes, present = face.boxes, face.present
    if not len(present):
        return "skipped", "no video: the video stream has no frames"
    if not present.any():
        return "skipped", f"no face: none in {len(present)} frames"
    if present.sum() < MIN_FACE_FRAMES or not _usable_windows(present):
        return "skipped", (f"too short: {int(present.sum())} of {len(present)} frames have a face "
                           f"(needs {MIN_FACE_FRAMES}, {WINDOW} in a row)")
    mel = audio_mel.melspectrogram(wav)
    if mel.shape[1] < MEL_STEPS:
        return "skipped", f"too short: {len(wav) / SAMPLE_RATE:.2f} s of audio"

    n = len(present)
    crops = np.zeros((n, records.CROP, records.CROP, 3), np.uint8)
    landmarks = np.full((n, records.MESH_POINTS, 3), np.nan, np.float32)
    crop_boxes = np.zeros((n, 4), np.float32)
    try:
        for i, (rgb, _) in enumerate(video.iter_frames(source)):
            if i >= n:
                break
            box = crop.pad_box(boxes[i], rgb.shape[:2])
            crop_boxes[i] = box
            crops[i] = crop.face_crop(rgb, box)[..., ::-1]  # RGB -> BGR, as the networks expect
            if face.chosen[i] is not None:
                landmarks[i] = _Worker.mesh.landmarks(rgb, face.chosen[i])[0]
    except InputError as err:
        return "skipped", f"corrupt: {err.problem}"
    times, _ = video.frame_times(pts, info)
    records.write_clip(out_path, {
        "frames": crops, "present": present, "times": times,
        "mel_starts": [int(80.0 * t) for t in times], "boxes": crop_boxes,
        "landmarks": landmarks, "audio": wav, "mel": mel.T, "fps": info.fps,
        "source": source, "source_size": (info.height, info.width),
    })
    return "written", ""


def _task(args):
    source, out_path = args
    try:
        return source, out_path, *process_clip(source, out_path)
    except Exception as err:  # noqa: BLE001 -- one clip's failure must not stop the others
        return source, out_path, "skipped", f"corrupt: {type(err).__name__}: {err}"


def preprocess(input_path, out_dir, workers=1, data_root=None, progress=True):
    """Preprocesses every video of a folder or filelist into out_dir.

    Returns:
        dict with counts "written", "existing" and "skipped" (a list of (source, reason)).
    """
    from tflipsync.faces import assets
    from tflipsync.data import records
    from tqdm import tqdm

    for name in assets.MODELS:  # fails here, once, with how to fetch them
        assets.model_path(name)
    pairs = find_videos(input_path, data_root)
    todo, existing = [], 0
    for source, stem in pairs:
        out_path = os.path.join(out_dir, stem + records.EXTENSION)
        if os.path.exists(out_path):
            existing += 1
        else:
            todo.append((source, out_path))
    os.makedirs(out_dir, exist_ok=True)
    skipped, written = [], 0
    bar = tqdm(total=len(todo), unit="clip", desc="preprocess", disable=not progress)
    if workers > 1 and len(todo) > 1:
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(workers, len(todo))) as pool:
            results = pool.imap_unordered(_task, todo)
            for result in results:
                written, skipped = _count(result, written, skipped, bar)
    else:
        for item in todo:
            written, skipped = _count(_task(item), written, skipped, bar)
    bar.close()
    summary = {"written": written, "existing": existing,
               "skipped": sorted([source, reason] for source, reason in skipped)}
    files.write_bytes(os.path.join(out_dir, REPORT), json.dumps(summary, indent=1))
    return summary


def _count(result, written, skipped, bar):
    source, _, status, reason = result
    if status == "written":
        written += 1
    else:
        skipped.append((source, reason))
        bar.set_postfix(skipped=len(skipped))
    bar.update(1)
    return written, skipped


def format_summary(summary):
    """The closing report: counts, then one line per skipped clip, then counts per reason."""
    lines = [f"preprocess: {summary['written']} clips written, {summary['existing']} already done, "
             f"{len(summary['skipped'])} skipped"]
    if summary["skipped"]:
        lines.append("skipped:")
        lines += [f"  {source}: {reason}" for source, reason in summary["skipped"]]
        reasons = collections.Counter(reason.split(":")[0] for _, reason in summary["skipped"])
        lines.append("by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    return "\n".join(lines)


def define_flags(flag_values):
    flags.DEFINE_string("input", None, "a folder of videos, or a filelist", flag_values=flag_values)
    flags.DEFINE_string("out", None, "the output data folder", flag_values=flag_values)
    flags.DEFINE_string("data_root", None, "root of a filelist's relative entries "
                        "(default: the filelist's folder)", flag_values=flag_values)
    flags.DEFINE_integer("workers", 1, "clips processed in parallel", lower_bound=1,
                         flag_values=flag_values)
    flags.mark_flags_as_required(["input", "out"], flag_values=flag_values)


def run(flag_values):
    summary = preprocess(flag_values.input, flag_values.out, flag_values.workers,
                         flag_values.data_root)
    print(format_summary(summary))
    return 1 if summary["skipped"] else 0
