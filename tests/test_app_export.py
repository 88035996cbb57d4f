"""The web app's model files: mouth.tflite (tflipsync/deploy/mouth.py) against the numpy
articulation model it is built from, its predictor, and `tflipsync export app` (tflipsync/deploy/app.py)."""

import numpy as np
import pytest

from tflipsync.deploy import mouth

# exporting (mouth.tflite converted once, for the module) takes 11-18 s measured (--durations, two busy CPU cores)
pytestmark = pytest.mark.slow

# Measured: at most 3.6e-7 (normalised units) between the file run by LiteRT and the float64
# numpy path on examples/speech.wav at the lengths below, at most 1.3e-6 (median 2.4e-7) on the 90
# clips of ../shared/corpus/speech (their first 10 s); the mouth moves by about 0.3.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(folder, manifest) of `export app` with the embedded mel-only model (once for the module)."""
    from tflipsync.deploy import app

    folder = tmp_path_factory.mktemp("app") / "models"
    return str(folder), app.export(str(folder), log=lambda line: None)


@pytest.fixture(scope="module")
def mouth_file(exported):
    """The exported mouth.tflite of the embedded mel-only articulation model."""
    import os

    return os.path.join(exported[0], "mouth.tflite")


@pytest.fixture(scope="module")
def runner(mouth_file):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=mouth_file).get_signature_runner(mouth.SIGNATURE)


@pytest.fixture(scope="module")
def speech():
    from tflipsync.audio import io as audio_io

    return audio_io.load_wav("examples/speech.wav")


@pytest.fixture(scope="module")
def reference():
    from tflipsync.landmarks.articulation import ArticulationPredictor
    from tflipsync.weights import bundled

    return ArticulationPredictor(bundled.weights_path("articulation_mel"))


def _run(runner, wav, tail=None):
    """points (frames, K, 2) of `wav` by the file; `tail` fills the pcm after the speech (else zeros)."""
    pcm = np.zeros((1, mouth.MAX_SAMPLES), np.float32) if tail is None else tail.reshape(1, -1).astype(np.float32)
    pcm[0, :len(wav)] = wav
    points = runner(pcm=pcm, samples=np.array([len(wav)], np.int32))["points"]
    assert points.shape == (1, mouth.MAX_FRAMES, 40, 2)
    return points[0, :mouth.frame_count(len(wav))]


@pytest.mark.parametrize("samples", [48000, 48333, 641, "all", mouth.MAX_SAMPLES])
def test_mouth_tflite_equals_the_numpy_predictor(runner, speech, reference, samples):
    # 3 s; 3 s and 333 samples (not a multiple of a frame's 640 nor a mel hop's 160); 2 frames; the
    # whole example; 10 s (the example repeated)
    count = len(speech) if samples == "all" else samples
    wav = np.resize(speech, count)
    expected = reference.predict(wav, 25.0, mouth.frame_count(count))
    got = _run(runner, wav)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < TOLERANCE
    assert np.abs(expected - reference.mean_shape).max() > 0.1  # the mouth moves: the comparison means something


def test_mouth_tflite_ignores_what_follows_the_speech(runner, speech):
    noise = np.random.default_rng(0).uniform(-1, 1, mouth.MAX_SAMPLES)
    wav = speech[:30000]
    assert np.abs(_run(runner, wav, tail=noise) - _run(runner, wav)).max() == 0.0


@pytest.mark.parametrize("level", [0.0, 5e-4])
def test_silence_gives_the_rest_mouth(runner, reference, level):
    wav = (level * np.sin(np.arange(32000) * 0.3)).astype(np.float32)  # digital silence; a hum at -66 dBFS
    got = _run(runner, wav)
    assert np.array_equal(got, np.repeat(reference.mean_shape[None], len(got), axis=0))
    assert np.array_equal(reference.predict(wav, 25.0, len(got)), got)


def test_mouth_tflite_has_builtin_ops_and_its_signature(mouth_file):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=mouth_file)
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "FULLY_CONNECTED" in ops or "BATCH_MATMUL" in ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    assert interpreter.get_signature_list() == {"mouth": {"inputs": ["pcm", "samples"], "outputs": ["points"]}}


def test_a_model_that_reads_phones_makes_no_mouth_file():
    from tflipsync.errors import InputError
    from tflipsync.weights import bundled

    with pytest.raises(InputError, match="mel-only"):
        mouth.load_model(bundled.weights_path("articulation"))


def test_the_predictor_loader_runs_a_mouth_file_without_tensorflow(mouth_file, speech, reference):
    import subprocess
    import sys

    script = ("import sys, numpy as np\n"
              "from tflipsync.landmarks import predictor\n"
              f"p = predictor.load({mouth_file!r})\n"
              "points = p.predict(np.zeros(16000, np.float32), 25.0, 25)\n"
              "assert type(p).__name__ == 'MouthFilePredictor' and p.delay == 0 and points.shape == (25, 40, 2)\n"
              "print('tensorflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "False"


def test_mouth_file_predictor_at_25_fps_and_resampled(mouth_file, speech, reference):
    from tflipsync.landmarks import predictor

    loaded = predictor.load(mouth_file)
    assert np.abs(loaded.mean_shape - reference.mean_shape).max() < TOLERANCE
    count = mouth.frame_count(len(speech))
    at_25 = loaded.predict(speech, 25.0, count)
    assert np.abs(at_25 - reference.predict(speech, 25.0, count)).max() < TOLERANCE
    at_20 = loaded.predict(speech, 20.0, 100)  # frame i at 20 fps is 25 fps position 1.25 i
    assert np.array_equal(at_20[4], at_25[5])
    assert np.abs(at_20[1] - (0.75 * at_25[1] + 0.25 * at_25[2])).max() < 1e-6


def test_mouth_file_predictor_refuses_frames_past_ten_seconds_and_other_files(mouth_file, speech):
    from tflipsync.errors import InputError
    from tflipsync.landmarks import predictor
    from tflipsync.weights import bundled

    loaded = predictor.load(mouth_file)
    assert loaded.predict(speech, 25.0, mouth.MAX_FRAMES).shape == (mouth.MAX_FRAMES, 40, 2)
    with pytest.raises(InputError, match=r"at most 10 s of speech .* frame 250 at 25 fps is at 10.00 s"):
        loaded.predict(speech, 25.0, mouth.MAX_FRAMES + 1)
    generator = bundled.weights_path("generator_tflite")
    with pytest.raises(InputError, match="no 'mouth' signature"):
        predictor.load(generator)


def test_engine_auto_tells_a_mouth_file_from_a_generator_file(mouth_file):
    from tflipsync.inference.options import Options, resolve_engine
    from tflipsync.weights import bundled

    def engine(weights):
        return resolve_engine(Options(face="f.png", audio="a.wav", out="o.mp4", weights=weights)).engine

    assert engine(mouth_file) == "landmarks"
    assert engine(bundled.weights_path("generator_tflite")) == "tflite"


def test_sticker_with_the_mouth_file(mouth_file, speech, tmp_path, capsys):
    from tflipsync import cli
    from tflipsync.audio import io as audio_io

    audio = tmp_path / "speech.wav"
    audio_io.write_wav(str(audio), speech[:24000])
    out = tmp_path / "ref.gif"
    status = cli.main(["sticker", "--face", "examples/astronaut.jpg", "--audio", str(audio), "--weights", mouth_file,
                       "--out", str(out)])  # engine auto: the mouth file's signature says landmarks
    assert status == 0 and out.stat().st_size > 0
    assert f"model: {mouth_file}" in capsys.readouterr().out


def _litert_specs(path):
    """[(name, index, shape, dtype)] of inputs and outputs, read with LiteRT here, not by the exporter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    signatures = interpreter.get_signature_list()
    if signatures:
        (key, names), = signatures.items()
        runner = interpreter.get_signature_runner(key)
        details = runner.get_input_details(), runner.get_output_details()
        return [[(n, int(d[n]["index"]), list(d[n]["shape"]), d[n]["dtype"].__name__) for n in names[side]]
                for side, d in zip(("inputs", "outputs"), details)]
    return [[(d["name"], int(d["index"]), list(d["shape"]), d["dtype"].__name__) for d in details]
            for details in (interpreter.get_input_details(), interpreter.get_output_details())]


def test_the_manifest_describes_the_files_it_lists(exported):
    import json
    import os

    from tflipsync import files
    from tflipsync.faces import assets

    folder, manifest = exported
    with open(os.path.join(folder, "manifest.json")) as f:
        assert json.load(f) == manifest
    assert sorted(os.listdir(folder)) == sorted(["manifest.json"] + [e["file"] for e in manifest["files"].values()])
    assert set(manifest["files"]) == {"detector", "mesh", "mouth"}
    for entry in manifest["files"].values():
        path = os.path.join(folder, entry["file"])
        assert os.path.getsize(path) == entry["bytes"] and files.sha256(path) == entry["sha256"]
        inputs, outputs = _litert_specs(path)
        for side, specs in (("inputs", inputs), ("outputs", outputs)):
            assert [(s["name"], s["index"], s["shape"], s["dtype"]) for s in entry[side]] == specs
            assert all(s["meaning"] for s in entry[side])
    for name in ("face_detection_short_range.tflite", "face_landmark.tflite"):  # copied byte for byte
        entry = next(e for e in manifest["files"].values() if e["file"] == name)
        assert (entry["bytes"], entry["sha256"]) == assets.MODELS[name][1:]
    assert [s["name"] for s in manifest["files"]["mouth"]["inputs"]] == ["pcm", "samples"]
    assert manifest["files"]["mouth"]["outputs"][0]["shape"] == [1, 250, 40, 2]
    assert manifest["files"]["mouth"]["inputs"][0]["shape"] == [1, manifest["max_samples"]]
    assert manifest["files"]["detector"]["min_score"] == 0.5


def test_the_manifest_numbers_are_the_python_constants(exported, runner):
    import inspect

    import tflipsync
    from tflipsync.faces import crop
    from tflipsync.inference.engines import landmarks as landmarks_engine
    from tflipsync.media import stickers
    from tflipsync.conventions import SAMPLE_RATE
    from tflipsync.faces import mesh as face_mesh
    from tflipsync.inference import warp
    from tflipsync.landmarks import articulation, mouth as mouth_points
    from tflipsync.weights import bundled

    _, manifest = exported
    assert (manifest["format"], manifest["tflipsync"], manifest["fps"], manifest["sample_rate"]) == (
        1, tflipsync.__version__, 25, SAMPLE_RATE)
    assert (manifest["max_samples"], manifest["max_frames"]) == (10 * SAMPLE_RATE, 250)
    assert manifest["mesh"] == {"size": face_mesh.MESH_SIZE, "scale": face_mesh.MESH_SCALE,
                                "min_presence": landmarks_engine.MIN_PRESENCE}
    assert manifest["sticker"] == {
        "side": stickers.SIDE, "scale": inspect.signature(stickers.square_box).parameters["scale"].default,
        "padding": list(crop.CROP_PADDING)}
    geometry = manifest["geometry"]
    assert geometry["mouth"] == list(mouth_points.MOUTH)
    assert [geometry["mouth"][k] for k in geometry["outer"]] == list(face_mesh.OUTER_LIPS)
    assert [geometry["mouth"][k] for k in geometry["inner"]] == list(face_mesh.INNER_LIPS)
    assert (geometry["right_eye"], geometry["left_eye"]) == (list(mouth_points.RIGHT_EYE), list(mouth_points.LEFT_EYE))
    model = articulation.ArticulationModel.load(bundled.weights_path("articulation_mel"))
    assert np.array_equal(np.array(geometry["mean_shape"], np.float32), model.mean_shape)
    silence = _run(runner, np.zeros(0, np.float32))
    assert silence.shape == (0, 40, 2)
    rest = runner(pcm=np.zeros((1, mouth.MAX_SAMPLES), np.float32), samples=np.array([0], np.int32))["points"][0, 0]
    assert np.array_equal(rest, model.mean_shape)
    numbers = manifest["warp"]
    assert numbers["ring"] == warp.RING and numbers["opening_triangles"] == warp.OPENING_TRIANGLES
    assert np.array_equal(np.array(numbers["triangles"]), warp.TRIANGLES)
    assert np.array_equal(numbers["band_offsets"], warp.BAND_OFFSETS)
    assert np.array_equal(numbers["band_follow"], warp.BAND_FOLLOW)
    assert numbers["max_shift"] == inspect.signature(warp.MouthWarp).parameters["max_shift"].default
    held_out = manifest["files"]["mouth"]["held_out"]
    assert held_out["val_median_r_predicted_gap"] == model.info["val_median_r"]
    assert manifest["files"]["mouth"]["trained_on"] == model.info["trained_on"]


def test_export_refuses_a_folder_with_other_files_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    import os

    from tflipsync.deploy import app
    from tflipsync.errors import InputError

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds other files"):
        app.export(str(busy))
    assert os.listdir(busy) == ["notes.txt"]

    def broken(model):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(mouth, "convert", broken)
    with pytest.raises(RuntimeError):
        app.export(str(tmp_path / "new"), log=lambda line: None)
    assert sorted(os.listdir(tmp_path)) == ["busy"]  # no output, no temporary folder


def test_an_export_replaces_an_earlier_one(tmp_path):
    import os

    from tflipsync.deploy import app

    earlier, new = tmp_path / "models", tmp_path / "new"
    earlier.mkdir()
    (earlier / "mouth.tflite").write_bytes(b"old")
    (earlier / "manifest.json").write_text("{}")
    new.mkdir()
    (new / "mouth.tflite").write_bytes(b"new")
    app._replace_folder(str(new), str(earlier))
    assert os.listdir(earlier) == ["mouth.tflite"] and (earlier / "mouth.tflite").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["models"]


def test_export_app_command_needs_out(capsys):
    from tflipsync import cli

    assert cli.main(["export", "app"]) == 2
    assert "missing required flag --out" in capsys.readouterr().err
