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
