"""The web app's model files: mouth.tflite (tflipsync/deploy/mouth.py) against the numpy
articulation model it is built from, its predictor, and `tflipsync export app` (tflipsync/deploy/app.py)."""

import numpy as np
import pytest

from tflipsync.deploy import mouth

# converting mouth.tflite (once, for the module) takes 8-13 s measured (--durations, two busy CPU cores)
pytestmark = pytest.mark.slow

# Measured: at most 4.8e-7 (normalised units) between the file run by LiteRT and the float64
# numpy path on examples/speech.wav at the lengths below; the mouth moves by about 0.3.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def mouth_file(tmp_path_factory):
    """The embedded mel-only articulation model as mouth.tflite (converted once for the module)."""
    path = tmp_path_factory.mktemp("mouth") / "mouth.tflite"
    path.write_bytes(mouth.convert(mouth.load_model()))
    return str(path)


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
