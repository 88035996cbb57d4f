"""`tflipsync preprocess`: videos to packed training clips (see tflipsync/data/records.py).

For each video: read its audio (16 kHz mono) and mel, detect faces on every frame, pick and
smooth the main face's box per shot (tflipsync/faces/track.py), then decode again to cut 96x96 BGR
crops and run the face mesh on frames with a face. One clip becomes one record file, written
atomically, so an interrupted run leaves no half-written clip and a rerun skips finished ones.
Clips that cannot be used are reported with their reason and skipped; the others go on.

    tflipsync preprocess --input VIDEOS_DIR_OR_FILELIST_OR_GLOB --out DATA_DIR [--workers N]
        [--runner local|direct|dataflow|flink|spark [--pipeline_options "..."]]

An input folder is searched recursively for videos and its layout is kept (LRS2's
`<group>/<id>.mp4` becomes `<group>/<id>.tfrecord`). An input file is a filelist: one video per
line, either a path or an LRS2 entry `<group>/<id>` (first token only), relative to --data_root
(default: the filelist's folder); `.mp4` is added where a line has no extension. A glob
(`videos/*/*.mp4`, `**` for any depth) keeps the layout below its last folder without a wildcard.

--runner local (the default) runs --workers processes on this machine; the other runners run the
same per-clip function (`clip_task`) as an Apache Beam pipeline (tflipsync/batch/preprocess.py,
`pip install -e ".[beam]"`), where input and output may be on any filesystem Beam reads (gs://,
s3://); docs/scale.md.
"""

import collections
import glob
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


class LocalFiles:
    """The local filesystem as find_videos lists it (tflipsync/batch/storage.py has Beam's, for
    gs:// and other URLs)."""

    isdir = staticmethod(os.path.isdir)
    isfile = staticmethod(os.path.isfile)
    isabs = staticmethod(os.path.isabs)
    join = staticmethod(os.path.join)

    @staticmethod
    def files_under(folder):
        """Every file below `folder`, recursively, in sorted order."""
        paths = []
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            paths += [os.path.join(root, name) for name in sorted(names)]
        return paths

    @staticmethod
    def glob(pattern):
        return sorted(path for path in glob.glob(pattern, recursive=True) if os.path.isfile(path))

    @staticmethod
    def relative(path, base):
        return os.path.relpath(path, base)

    @staticmethod
    def dirname(path):
        return os.path.dirname(os.path.abspath(path))

    @staticmethod
    def read_lines(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()


def is_glob(path):
    """Whether an --input is a glob pattern rather than a folder or a filelist."""
    return any(c in path for c in "*?[")


def glob_base(pattern):
    """The folder of a glob's matches that their layout is kept below: up to the last "/" before
    the first wildcard."""
    head = pattern[:min(pattern.index(c) for c in "*?[" if c in pattern)]
    return head[:head.rfind("/") + 1] if "/" in head else "."


def find_videos(input_path, data_root=None, filesystem=None):
    """Lists (source video, output stem relative to DATA_DIR) pairs for an input folder, filelist
    or glob.

    Args:
        filesystem: how to list and read paths: LocalFiles (the default) or
            tflipsync.batch.storage.BeamFiles (any filesystem Beam reads).

    Raises:
        InputError: the input is missing, or a filelist or glob names nothing.
    """
    fs = filesystem or LocalFiles()
    looked_for = "no video files found (looked for " + ", ".join(video.VIDEO_EXTENSIONS) + ")"
    if is_glob(input_path) or fs.isdir(input_path):
        base = glob_base(input_path) if is_glob(input_path) else input_path
        paths = fs.glob(input_path) if is_glob(input_path) else fs.files_under(input_path)
        pairs = [(path, os.path.splitext(fs.relative(path, base))[0]) for path in paths
                 if path.lower().endswith(video.VIDEO_EXTENSIONS)]
        if not pairs:
            raise InputError(input_path, looked_for)
        return pairs
    if not fs.isfile(input_path):
        raise InputError(input_path, "no such file or folder")
    root = data_root or fs.dirname(input_path)
    pairs = []
    for line in fs.read_lines(input_path):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        entry = tokens[0]
        stem, extension = os.path.splitext(entry)
        source = entry if extension else entry + ".mp4"
        source = source if fs.isabs(source) else fs.join(root, source)
        relative = os.path.basename(stem) if fs.isabs(stem) else os.path.normpath(stem)
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


def load_models():
    """Loads this process's face detector and mesh (once; process_clip does it on first use): a
    pipeline worker calls it at set-up, so the first clip's time is the clip's own."""
    _Worker.start()


def process_clip(source, out_path, name=None):
    """Processes one video into a clip record.

    Args:
        source: the video file, local.
        out_path: the record to write, local.
        name: the video's name in the record's "source" field (default `source`; a pipeline
            worker's local copy of a gs:// video keeps its URL).

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
        "source": name or source, "source_size": (info.height, info.width),
    })
    return "written", ""


def clip_task(source, out_path, name=None):
    """process_clip for one clip of a batch: any failure becomes ("skipped", "corrupt: ..."), so one
    clip's failure never stops the others. The one per-clip function of both the local workers and
    the Beam pipeline (tflipsync/batch/preprocess.py)."""
    try:
        return process_clip(source, out_path, name)
    except Exception as err:  # noqa: BLE001 -- one clip's failure must not stop the others
        return "skipped", f"corrupt: {type(err).__name__}: {err}"


def _task(args):
    source, out_path = args
    return source, out_path, *clip_task(source, out_path)


def largest_first(todo):
    """The (source, out_path) pairs by decreasing size of a local source: the longest clips start
    first, so the last to finish is a short one, whether workers take clips as they free up or
    the work is split up front (Beam's DirectRunner deals its elements out in turn)."""
    def size(item):
        try:
            return os.path.getsize(item[0])
        except (OSError, ValueError):
            return 0  # a remote source: its place in the list is kept
    return sorted(todo, key=size, reverse=True)


def check_models():
    """Fails here, once, with what to do, where TensorFlow (it writes the TFRecord clip records) or a
    MediaPipe model file is missing."""
    import importlib.util

    from tflipsync.faces import assets

    if importlib.util.find_spec("tensorflow") is None:
        raise InputError("tensorflow", "preprocess writes TFRecord clip records with TensorFlow, which the lite "
                                       "install leaves out: pip install 'tflipsync[train]'")

    for name in assets.MODELS:
        assets.model_path(name)


def make_summary(written, existing, skipped):
    """The report of a run: counts, and the skipped clips as sorted [source, reason] pairs."""
    return {"written": written, "existing": existing,
            "skipped": sorted([source, reason] for source, reason in skipped)}


def report_text(summary):
    """The report file's JSON text (REPORT in the output folder)."""
    return json.dumps(summary, indent=1)


def preprocess(input_path, out_dir, workers=1, data_root=None, progress=True):
    """Preprocesses every video of a folder or filelist into out_dir.

    Returns:
        dict with counts "written", "existing" and "skipped" (a list of (source, reason)).
    """
    from tflipsync.data import records
    from tqdm import tqdm

    check_models()
    pairs = find_videos(input_path, data_root)
    todo, existing = [], 0
    for source, stem in pairs:
        out_path = os.path.join(out_dir, stem + records.EXTENSION)
        if os.path.exists(out_path):
            existing += 1
        else:
            todo.append((source, out_path))
    os.makedirs(out_dir, exist_ok=True)
    todo = largest_first(todo)
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
    summary = make_summary(written, existing, skipped)
    files.write_bytes(os.path.join(out_dir, REPORT), report_text(summary))
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
    from tflipsync.batch import options as batch_options

    flags.DEFINE_string("input", None, "a folder of videos, a filelist, or a glob (any filesystem Beam "
                        "reads with a Beam --runner)", flag_values=flag_values)
    flags.DEFINE_string("out", None, "the output data folder", flag_values=flag_values)
    flags.DEFINE_string("data_root", None, "root of a filelist's relative entries "
                        "(default: the filelist's folder)", flag_values=flag_values)
    flags.DEFINE_integer("workers", 1, "clips processed in parallel (local, and --runner direct)", lower_bound=1,
                         flag_values=flag_values)
    batch_options.define_flags(flag_values, __name__, default_runner=batch_options.LOCAL)
    flags.mark_flags_as_required(["input", "out"], flag_values=flag_values)


def run(flag_values):
    if flag_values.runner == "local":
        summary = preprocess(flag_values.input, flag_values.out, flag_values.workers, flag_values.data_root)
    else:
        from tflipsync.batch import preprocess as beam_preprocess

        summary = beam_preprocess.preprocess(flag_values.input, flag_values.out, flag_values.runner,
                                             flag_values.workers, flag_values.data_root,
                                             flag_values.pipeline_options)
    print(format_summary(summary))
    return 1 if summary["skipped"] else 0
