"""`tflipsync export app`: the model files the web app loads, and their manifest.

    tflipsync export app --out DIR [--articulation my_mel_model.npz]

Writes into DIR (docs/app_models.md):

- face_detection_short_range.tflite and face_landmark.tflite, copied byte for byte from the
  project's model cache (`tflipsync fetch-models`; sha256-checked), the face detector and the
  face mesh Python runs (tflipsync/faces/detect.py, tflipsync/faces/mesh.py);
- mouth.tflite, speech to mouth shapes (tflipsync/deploy/mouth.py) from the mel-only
  articulation model (default: the embedded one, model.json's "articulation_mel");
- manifest.json: versions, each file's size, sha256 and input and output tensors as LiteRT reports
  them, and every number the app's warp needs (mesh crop, mouth geometry, warp bands and
  triangles), taken from the Python constants so that none is retyped in JavaScript.

DIR appears complete or not at all: everything is written in a temporary folder beside it that
then replaces it. An existing DIR may hold only these four files (an earlier export).
"""

import importlib.util
import json
import os
import shutil

from tflipsync.errors import InputError

FORMAT = 1
DETECTOR = "face_detection_short_range.tflite"
MESH = "face_landmark.tflite"
MOUTH = "mouth.tflite"
MANIFEST = "manifest.json"
NAMES = (DETECTOR, MESH, MOUTH, MANIFEST)

DETECTOR_MEANINGS = {
    "input": "the image: 128 x 128 RGB; MediaPipe Tasks' FaceDetector makes it from the photo and decodes the outputs",
    "regressors": "per anchor (896): the box (4) and 6 keypoints (x, y), relative to the anchor",
    "classificators": "per anchor (896): the face score logit",
}
MOUTH_MEANINGS = {
    "pcm": "16 kHz mono speech in [-1, 1]: its first `samples` values (at most 10 s); values from index `samples` "
           "on are ignored",
    "samples": "how many values of pcm are speech",
    "points": "normalised mouth points (geometry.mouth order, the frame of tflipsync.landmarks.mouth.normalise) of "
              "video frames i = 0 .. 249 at 25 fps (frame i at t = i / 25 s); rows from ceil(samples * 25 / 16000) "
              "on are not meaningful; speech whose peak |pcm| is at most silent_peak gives geometry.mean_shape",
}


def tensor_specs(path):
    """{"inputs": [...], "outputs": [...]} of a .tflite as LiteRT reports them, in its order.

    Each spec: name (the signature's name of the tensor where the file has one signature, else the
    tensor's name), tensor (the tensor's name), index (LiteRT's tensor index), shape, dtype.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    signatures = interpreter.get_signature_list()
    out = {}
    if len(signatures) == 1:
        key, names = next(iter(signatures.items()))
        runner = interpreter.get_signature_runner(key)
        for side, details in (("inputs", runner.get_input_details()), ("outputs", runner.get_output_details())):
            out[side] = [dict(name=name, **_spec(details[name])) for name in names[side]]
    else:
        for side, details in (("inputs", interpreter.get_input_details()),
                              ("outputs", interpreter.get_output_details())):
            out[side] = [dict(name=d["name"], **_spec(d)) for d in details]
    return out


def _spec(detail):
    return {"tensor": detail["name"], "index": int(detail["index"]), "shape": [int(n) for n in detail["shape"]],
            "dtype": detail["dtype"].__name__}


def _file_entry(folder, name, meanings):
    """The manifest entry of file `name` in `folder`: file, bytes, sha256, inputs, outputs (+ meaning)."""
    from tflipsync import files

    path = os.path.join(folder, name)
    specs = tensor_specs(path)
    for side in ("inputs", "outputs"):
        for spec in specs[side]:
            spec["meaning"] = meanings[spec["name"]]
    return {"file": name, "bytes": os.path.getsize(path), "sha256": files.sha256(path), **specs}


def _mesh_meanings(path):
    """The face mesh's tensors by role: the bigger output holds the points (as tflipsync/faces/mesh.py reads it)."""
    import numpy as np

    specs = tensor_specs(path)
    outputs = sorted(specs["outputs"], key=lambda s: -int(np.prod(s["shape"])))
    return {specs["inputs"][0]["name"]: "the face crop: 192 x 192 RGB float32 in [0, 1], cut from the photo by the "
                                        "affine FaceMesh.crop_transform (mesh.size, mesh.scale)",
            outputs[0]["name"]: "468 x 3 points (x, y, z) in crop pixels",
            outputs[1]["name"]: "face presence logit (sigmoid; below 0.5: no face)"}


def geometry(mean_shape):
    """The mouth geometry of the manifest: mesh indices, ring positions, eye corners, mean shape."""
    from tflipsync.faces import mesh as face_mesh
    from tflipsync.landmarks import mouth as mouth_points

    position = {int(index): k for k, index in enumerate(mouth_points.MOUTH)}
    return {"mouth": [int(i) for i in mouth_points.MOUTH],
            "outer": [position[i] for i in face_mesh.OUTER_LIPS],
            "inner": [position[i] for i in face_mesh.INNER_LIPS],
            "right_eye": [int(i) for i in mouth_points.RIGHT_EYE],
            "left_eye": [int(i) for i in mouth_points.LEFT_EYE],
            "mean_shape": [[float(x), float(y)] for x, y in mean_shape]}


def warp_numbers():
    """The warp's constants (tflipsync/inference/warp.py) as JSON lists."""
    from tflipsync.inference import warp

    import inspect

    return {"ring": int(warp.RING), "band_offsets": [list(map(float, b)) for b in warp.BAND_OFFSETS],
            "band_follow": [float(f) for f in warp.BAND_FOLLOW], "triangles": warp.TRIANGLES.tolist(),
            "opening_triangles": int(warp.OPENING_TRIANGLES),
            "max_shift": float(inspect.signature(warp.MouthWarp).parameters["max_shift"].default)}


def sticker_numbers():
    """How `tflipsync sticker` frames a photo: its side, the square around the padded face box."""
    import inspect

    from tflipsync.faces import crop
    from tflipsync.media import stickers

    return {"side": int(stickers.SIDE),
            "scale": float(inspect.signature(stickers.square_box).parameters["scale"].default),
            "padding": [float(p) for p in crop.CROP_PADDING]}  # top, bottom, left, right


def detector_min_score():
    """The short-range detector's least face score in Python (FaceDetector's default)."""
    import inspect

    from tflipsync.faces import detect

    return float(inspect.signature(detect.FaceDetector).parameters["min_score"].default)


def build(folder, articulation_path=None, log=print):
    """Writes the app's files and manifest into the existing empty `folder`; returns the manifest.

    Raises:
      InputError: a model file missing from the cache, or an articulation model that is not mel-only.
    """
    import tensorflow as tf

    import tflipsync
    from tflipsync import files
    from tflipsync.conventions import SAMPLE_RATE
    from tflipsync.deploy import mouth
    from tflipsync.faces import assets, mesh as face_mesh
    from tflipsync.inference.engines import landmarks as landmarks_engine
    from tflipsync.landmarks import articulation

    model = mouth.load_model(articulation_path)
    for name in (DETECTOR, MESH):
        shutil.copyfile(assets.model_path(name), os.path.join(folder, name))  # model_path checks the sha256
    log(f"converting the mouth model ({articulation_path or 'embedded articulation_mel'}) ...")
    files.write_bytes(os.path.join(folder, MOUTH), mouth.convert(model))
    info = model.info
    manifest = {
        "format": FORMAT, "tflipsync": tflipsync.__version__, "tensorflow": tf.__version__,
        "fps": mouth.FPS, "sample_rate": SAMPLE_RATE, "max_samples": mouth.MAX_SAMPLES, "max_frames": mouth.MAX_FRAMES,
        "files": {
            "detector": {**_file_entry(folder, DETECTOR, DETECTOR_MEANINGS), "min_score": detector_min_score()},
            "mesh": _file_entry(folder, MESH, _mesh_meanings(os.path.join(folder, MESH))),
            "mouth": {**_file_entry(folder, MOUTH, MOUTH_MEANINGS),
                      "model": os.path.basename(articulation_path or "embedded articulation_mel"),
                      "trained_on": info.get("trained_on", "unknown"),
                      "held_out": {"val_median_r_predicted_gap": info.get("val_median_r"),
                                   "test_median_r_predicted_gap": info.get("test_median_r"),
                                   "measure": "best-lag Pearson r of the predicted gap with the measured lip gap, "
                                              "median over the real corpus's val / test clips "
                                              "(tools/train_articulation.py)"},
                      "silent_peak": articulation.SILENT_PEAK,
                      "other_fps": "frame i at f fps: the 25 fps rows sampled linearly at position p = 25 i / f "
                                   "(tflipsync.landmarks.predictor.MouthFilePredictor)"},
        },
        "mesh": {"size": int(face_mesh.MESH_SIZE), "scale": float(face_mesh.MESH_SCALE),
                 "min_presence": float(landmarks_engine.MIN_PRESENCE)},
        "geometry": geometry(model.mean_shape),
        "warp": warp_numbers(),
        "sticker": sticker_numbers(),
    }
    files.write_bytes(os.path.join(folder, MANIFEST), json.dumps(manifest, indent=1) + "\n")
    return manifest


def export(out, articulation_path=None, log=print):
    """`build` into a temporary folder beside `out` that then replaces `out`; returns the manifest.

    Raises:
      InputError: `out` is a file, or a folder holding other files than an export's.
    """
    from tflipsync import files

    out = os.path.abspath(out)
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise InputError(out, "is a file; --out names the folder to write the app's model files in")
        others = sorted(set(os.listdir(out)) - set(NAMES))
        if others:
            raise InputError(out, f"holds other files than an app export ({', '.join(others[:3])}); give a new or "
                                  "empty folder")
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        raise InputError(out, "its folder does not exist")
    temporary = files.temporary_path(out)
    os.mkdir(temporary)
    try:
        manifest = build(temporary, articulation_path, log)
        _replace_folder(temporary, out)
    except BaseException:
        files.remove(temporary)
        raise
    return manifest


def _replace_folder(new, out):
    """Renames folder `new` to `out`, replacing the folder there (restored if the rename fails)."""
    from tflipsync import files

    old = None
    if os.path.exists(out):
        old = files.temporary_path(out)
        os.replace(out, old)
    try:
        os.replace(new, out)
    except BaseException:
        if old:
            os.replace(old, out)
        raise
    if old:
        files.remove(old)


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    flags.DEFINE_string("out", None, "the folder to write (created or replaced): the three .tflite files and "
                        "manifest.json", **fv)
    flags.DEFINE_string("articulation", None, "a mel-only articulation model (.npz of tools/train_articulation.py "
                        "--inputs=mel); default: the embedded one", **fv)
    flags.mark_flag_as_required("out", flag_values=flag_values)


def run(f):
    if importlib.util.find_spec("tensorflow") is None:
        raise InputError("tensorflow", "export app converts the mouth model with TensorFlow: pip install "
                                       "'tflipsync[train]'")
    manifest = export(f.out, f.articulation)
    for entry in manifest["files"].values():
        print(f"{os.path.join(f.out, entry['file'])}: {entry['bytes']:,} bytes, sha256 {entry['sha256'][:12]}...")
    held_out = manifest["files"]["mouth"]["held_out"]
    figures = "" if held_out["val_median_r_predicted_gap"] is None else (
        f"; mouth model val r {held_out['val_median_r_predicted_gap']:.3f}, "
        f"test r {held_out['test_median_r_predicted_gap']:.3f}")
    print(f"{os.path.join(f.out, MANIFEST)}: format {manifest['format']}, tflipsync {manifest['tflipsync']}, "
          f"tensorflow {manifest['tensorflow']}{figures}")
    return 0
