"""The embedded default model: a small generator, expert and landmark LSTM inside the package.

Both were trained by `train.py` on the project's synthetic corpus (`tflipsync synth`), so they
need nothing from a model hub; they lip-sync that corpus's kind of face and are a starting point,
not a substitute for weights trained on real video (give those with `--weights`). What they were
trained on, the commands that reproduce them, their validation figures and the files' sha256 are
in `tflipsync/weights/model.json`.

The files are refreshed only by `tools/package_embedded.py` from finished `train.py` runs.
"""

import json
import os

from tflipsync import files
from tflipsync.errors import InputError

WEIGHTS_DIR = os.path.dirname(os.path.abspath(__file__))
KINDS = ("generator", "expert", "landmarks")


def manifest(directory=WEIGHTS_DIR):
    """The embedded model's description (dict): width, training data, figures, files."""
    path = os.path.join(directory, "model.json")
    if not os.path.isfile(path):
        raise InputError(path, "the embedded default model is missing from this installation; "
                               "reinstall tflipsync or give --weights")
    with open(path) as f:
        return json.load(f)


def weights_path(kind, directory=WEIGHTS_DIR):
    """Path of the embedded `kind` (one of KINDS) weights, checked against its sha256."""
    entry = manifest(directory)["files"].get(kind)
    if entry is None:
        raise InputError(os.path.join(directory, "model.json"), f"no embedded {kind} model; "
                                                               "reinstall tflipsync or give --weights")
    path = os.path.join(directory, entry["file"])
    if not os.path.isfile(path):
        raise InputError(path, "embedded weights missing; reinstall tflipsync or give --weights")
    if files.sha256(path) != entry["sha256"]:
        raise InputError(path, "embedded weights do not match their recorded sha256 (altered or "
                               "truncated); reinstall tflipsync or give --weights")
    return path


def width(directory=WEIGHTS_DIR):
    """Channel-width multiplier of the embedded networks."""
    return float(manifest(directory)["width"])


def describe(directory=WEIGHTS_DIR):
    """One line saying what the embedded model is and what it was trained on."""
    info = manifest(directory)
    return (f"embedded default model (width {info['width']:g}, generator step {info['files']['generator']['step']}, "
            f"expert step {info['files']['expert']['step']}), trained by train.py on {info['trained_on']}; "
            f"give --weights for a model trained on real video")


def landmarks_config(directory=WEIGHTS_DIR):
    """The embedded landmark LSTM's architecture: {delay, units, pca_dims, bidirectional}."""
    weights_path("landmarks", directory)  # present and unaltered
    return dict(manifest(directory)["files"]["landmarks"]["config"])


def describe_landmarks(directory=WEIGHTS_DIR):
    """One line saying what the embedded landmark LSTM is and what it was trained on."""
    info = manifest(directory)
    entry = info["files"]["landmarks"]
    config = entry["config"]
    return (f"embedded landmark LSTM ({config['units']} units, delay {config['delay']} steps = "
            f"{config['delay'] * 12.5:g} ms, {config['pca_dims']} PCA dims, step {entry['step']}), "
            f"trained by train.py on {entry.get('trained_on', info['trained_on'])}")


def load(kind, directory=WEIGHTS_DIR):
    """The embedded `kind` network built at its width with its weights loaded."""
    from tflipsync import models

    build = {"generator": models.build_generator, "expert": models.build_expert}[kind]
    model = build(width(directory))
    model.load_weights(weights_path(kind, directory))
    return model


def run_flags(weights):
    """{name: value} of the train.py flags.txt beside a weights file (or one folder up: best/)."""
    folder = os.path.dirname(os.path.abspath(weights))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, "flags.txt")
        if os.path.isfile(path):
            with open(path) as f:
                pairs = [line.strip()[2:].split("=", 1) for line in f if line.startswith("--")]
            return {k: v for k, v in (p for p in pairs if len(p) == 2)}
    return {}


def network(kind, weights=None, width=None):
    """(network, description): `kind` ('generator' or 'expert') with `weights` at `width`
    (default: the --width of the train.py run the weights come from, its flags.txt beside them or
    one folder up; else 1.0), or the embedded one when `weights` is empty.

    Raises:
      InputError: missing or wrong weights, or a width without weights.
    """
    from tflipsync import models

    if not weights:
        if width is not None:
            raise InputError("--width", "only applies with --weights (the embedded model has its own)")
        return load(kind), describe()
    if not os.path.isfile(weights):
        raise InputError(weights, "no such file")
    build = {"generator": models.build_generator, "expert": models.build_expert}[kind]
    if width is None:
        width = float(run_flags(weights).get("width", 1.0))
    model = build(width)
    load_weights(model, weights, f"{kind} weights of width {model.width:g}")
    return model, weights


def load_weights(model, path, what):
    """Loads `path` into `model`; a file that does not fit is one InputError line: "not `what`: why"."""
    try:
        model.load_weights(path)
    except (ValueError, OSError, KeyError) as err:
        raise InputError(path, f"not {what}: {str(err).splitlines()[0]}") from None


def generator(weights=None, width=None):
    """(generator, description); see `network`."""
    return network("generator", weights, width)
