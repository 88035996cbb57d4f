"""The lite runtime: `pip install tflipsync` without [train] runs `sticker` (landmarks engine) and
`sync --engine tflite` (the embedded generator .tflite on LiteRT) with no TensorFlow installed.

The commands run in the real lite virtualenv `.venv-lite` (`make .venv-lite/.runtime`, which
`make test` builds first); the embedded .tflite's agreement with the Keras generator and the
numpy resampler's with scipy are measured here, in the full environment.
"""

import os
import re
import subprocess

import numpy as np
import pytest

from tflipsync.audio import io as audio_io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LITE_BIN = os.path.join(ROOT, ".venv-lite", "bin")
FACE = os.path.join(ROOT, "examples", "astronaut.jpg")
SPEECH = os.path.join(ROOT, "examples", "speech.wav")
SECONDS = 0.4  # of speech: 10 output frames at 25 fps, 8 at the sticker's 20
MIN_PSNR_DB = 50.0  # the embedded fp16 file against Keras fp32 (measured 61.0 dB, model.json)


def lite(program, *args):
    """Runs `program` of the lite virtualenv; a missing one fails, saying how to make it."""
    path = os.path.join(LITE_BIN, program)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: the lite virtualenv is made by `make .venv-lite/.runtime` "
                    "(`make test` makes it first)")
    return subprocess.run([path, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory):
    """SECONDS of the bundled speech from 1 s in (where it speaks), at 22.05 kHz as the original,
    so the lite install resamples too."""
    import av

    path = str(tmp_path_factory.mktemp("lite") / "short.wav")
    with av.open(SPEECH) as container:
        rate = container.streams.audio[0].rate
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    audio_io.write_wav(path, pcm[rate:rate + int(SECONDS * rate)].astype(np.float32) / 32768.0, sr=rate)
    return path


def test_the_lite_virtualenv_has_no_tensorflow():
    result = lite("python", "-c", "import tensorflow")
    assert result.returncode != 0 and "No module named 'tensorflow'" in result.stderr
    result = lite("python", "-c", "import keras")
    assert result.returncode != 0 and "No module named 'keras'" in result.stderr


def test_lite_sticker_writes_a_gif(short_speech, tmp_path):
    from PIL import Image

    out = tmp_path / "s.gif"
    result = lite("tflipsync", "sticker", "--face", FACE, "--audio", short_speech, "--out", str(out),
                  "--progress=false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "embedded articulation model" in result.stdout  # the default engine: landmarks
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.size == (512, 512)
        assert gif.n_frames == round(SECONDS * 20)
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB"), np.int16))
    assert max(np.abs(f - frames[0]).max() for f in frames[1:]) > 30  # the mouth moves


def test_lite_sync_with_the_tflite_engine_writes_an_mp4(short_speech, tmp_path):
    import av

    out = tmp_path / "v.mp4"
    result = lite("tflipsync", "sync", "--engine", "tflite", "--face", FACE, "--audio", short_speech,
                  "--out", str(out), "--progress=false")
    assert result.returncode == 0, result.stderr[-2000:]
    redrawn = int(re.search(r"faces redrawn in (\d+) frames", result.stdout).group(1))
    assert redrawn >= round(SECONDS * 25) // 2  # the generator ran: speech, not silence
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 1
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == round(SECONDS * 25) and frames[0].shape == (512, 512, 3)


@pytest.mark.slow  # 14 s measured (TensorFlow's import, the Keras generator, two busy CPU cores)
def test_embedded_tflite_is_the_embedded_generator_within_the_stated_psnr():
    from tools.package_embedded import example_samples, generator_tflite_psnr
    from tflipsync.weights import bundled

    info = bundled.manifest()["files"]
    path = bundled.weights_path("generator_tflite")  # present, sha256 checked
    assert info["generator_tflite"]["from"]["generator_sha256"] == info["generator"]["sha256"]  # not stale
    assert os.path.getsize(path) <= 6 * 2**20
    with open(path, "rb") as f:
        psnr = generator_tflite_psnr(f.read(), samples=example_samples(8, seed=3))
    assert psnr >= MIN_PSNR_DB


@pytest.mark.parametrize("up,down", [(320, 441), (1, 3), (160, 147), (2, 1)])
def test_resample_poly_is_scipys(up, down):
    import scipy.signal

    x = np.random.default_rng(up).uniform(-1, 1, 4001).astype(np.float32)
    ours = audio_io.resample_poly(x, up, down)
    theirs = scipy.signal.resample_poly(x, up, down)
    assert ours.shape == theirs.shape and np.abs(ours - theirs).max() < 1e-6
