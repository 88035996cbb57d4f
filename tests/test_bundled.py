"""The embedded default model: its files, its integrity check, what it learned, and its use."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tflipsync.weights import bundled
from tflipsync import models
from tflipsync.data import expert_dataset, generator_dataset
from tflipsync.errors import InputError
from tflipsync.training import losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_files_match_the_manifest_and_the_size_budget():
    info = bundled.manifest()
    assert info["width"] <= 0.5
    total = 0
    for kind in bundled.KINDS:
        path = bundled.weights_path(kind)  # checks the sha256
        total += os.path.getsize(path)
        assert info["files"][kind]["step"] > 0
        assert any(flag == "--model=" + kind for flag in info["files"][kind]["flags"])
    assert total <= 25 * 2**20
    assert "synthetic" in bundled.describe()


def test_altered_weights_are_refused(tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(bundled.WEIGHTS_DIR, copy)
    path = copy / bundled.manifest()["files"]["expert"]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="do not match their recorded sha256"):
        bundled.load("expert", str(copy))
    bundled.load("generator", str(copy))  # the other file is intact


@pytest.fixture(scope="module")
def held_out(synthetic_corpus):
    """The session's four synthetic clips (tests/conftest.py): speakers the embedded model never saw."""
    assert synthetic_corpus.summary["written"] == 4
    return str(synthetic_corpus.records)


def test_embedded_expert_tells_synced_from_shifted_audio(held_out):
    from tflipsync.training.accuracy import expert_figures

    figures = expert_figures(bundled.load("expert"), expert_dataset(held_out, 64, seed=1).take(4))
    assert 0.4 < figures["positives"] < 0.6
    # 90 % on the held-out split of the training corpus; a few short clips here
    assert figures["accuracy"] >= 0.8, figures


def _generate(generator, batch):
    face = tf.reshape(batch["face"], [-1, 96, 96, 6])  # (B*5, 96, 96, 6)
    mel = tf.reshape(batch["mels"], [-1, 80, 16, 1])  # (B*5, 80, 16, 1)
    return tf.reshape(generator([mel, face], training=False), batch["target"].shape)


@pytest.mark.slow  # 10-26 s measured (--durations, two busy CPU cores)
def test_embedded_generator_learned_faces_and_sync(held_out):
    import keras

    generator = bundled.load("generator")
    expert = bundled.load("expert")
    keras.utils.set_random_seed(0)
    untrained = models.build_generator(bundled.width())
    l1 = {"embedded": [], "untrained": [], "reference": []}
    sync = {"embedded": [], "untrained": [], "reference": []}
    for batch in generator_dataset(held_out, 8, seed=2).take(3):
        # copying the reference window (another moment of the clip) is the no-audio baseline
        reference = tf.reshape(batch["face"][..., 3:], batch["target"].shape)
        outputs = {"embedded": _generate(generator, batch), "untrained": _generate(untrained, batch),
                   "reference": reference}
        ones = tf.ones([batch["target"].shape[0]])
        for name, frames in outputs.items():
            l1[name].append(float(tf.reduce_mean(losses.l1(frames[:, :, 48:], batch["target"][:, :, 48:]))))
            loss, _ = losses.sync_loss(expert, batch["sync_mel"], losses.lower_half_stack(frames), ones,
                                       training=False)
            sync[name].append(float(tf.reduce_mean(loss)))
    l1 = {name: np.mean(values) for name, values in l1.items()}
    sync = {name: np.mean(values) for name, values in sync.items()}
    # measured at packaging: lower-half L1 0.077 vs 0.19-0.20 untrained; sync 0.29 vs 4-5 untrained
    assert l1["embedded"] < 0.5 * l1["untrained"], (l1, sync)
    assert sync["embedded"] < 0.25 * sync["untrained"], (l1, sync)
    # the expert finds the generated mouths in sync with the audio, more than the reference's own
    assert sync["embedded"] < sync["reference"], (l1, sync)


def _tflipsync(*args):
    return subprocess.run([sys.executable, "-m", "tflipsync", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # 18-19 s measured (--durations, two busy CPU cores)
def test_generate_uses_the_embedded_model_and_says_so(tmp_path):
    out = tmp_path / "sheet.png"
    result = _tflipsync("generate", "--face", "examples/astronaut.jpg", "--box", "70,200,160,290",
                        "--audio", "examples/speech.wav", "--out", str(out), "--max_frames", "5")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "weights: embedded default model (width 0.25" in result.stdout
    assert "synthetic" in result.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # 22-29 s measured (--durations, two busy CPU cores)
def test_generate_refuses_wrong_weights_and_a_lone_width(tmp_path):
    out = tmp_path / "sheet.png"
    common = ["generate", "--face", "examples/astronaut.jpg", "--audio", "examples/speech.wav", "--out", str(out)]
    result = _tflipsync(*common, "--weights", bundled.weights_path("expert"))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "expert.weights.h5" in last and "not generator weights of width 1" in last, result.stderr[-2000:]
    result = _tflipsync(*common, "--width", "0.5")
    assert result.returncode != 0
    assert "--width: only applies with --weights" in result.stderr
    assert not out.exists()


def test_generator_weights_take_the_width_of_their_train_run(tmp_path):
    """Weights from a train.py run load at the run's --width (its flags.txt), without --width."""
    import shutil

    from tflipsync.weights import bundled

    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    shutil.copyfile(bundled.weights_path("generator"), run / "best" / "generator.weights.h5")
    (run / "flags.txt").write_text("--model=generator\n--width=0.25\n")
    model, _ = bundled.generator(str(run / "best" / "generator.weights.h5"))
    assert model.width == 0.25
    (run / "flags.txt").write_text("--model=generator\n--width=0.5\n")
    with pytest.raises(InputError, match="width 0.5"):
        bundled.generator(str(run / "best" / "generator.weights.h5"))
