"""Training: losses, the frozen expert, and the tiny recipes end to end (train.py)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tflipsync.data import records
from tflipsync.training import config as training_config
from tflipsync.training import losses
from tflipsync.training.tasks.generator import GeneratorTask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_clips(directory, count=3, frames=40, seed=0, nan_mel=False):
    """Random-content clip records (25 fps), enough for every pipeline."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        n = frames
        mel = rng.uniform(-4, 4, size=(int(80 * n / 25) + 20, 80)).astype(np.float32)
        if nan_mel:
            mel[:] = np.nan
        records.write_clip(os.path.join(directory, f"g{index}", "00000.tfrecord"), {
            "frames": rng.integers(0, 256, size=(n, 96, 96, 3), dtype=np.uint8),
            "present": np.ones(n, bool), "times": np.arange(n) / 25.0,
            "mel_starts": [int(80.0 * (i / 25.0)) for i in range(n)],
            "boxes": np.zeros((n, 4)), "landmarks": np.zeros((n, records.MESH_POINTS, 3)),
            "audio": np.zeros(16000, np.float32), "mel": mel, "fps": 25.0})
    return directory


def test_binary_cross_entropy_follows_pytorch_bceloss():
    p = tf.constant([0.0, 0.2, 0.5, 0.9, 1.0])
    y = tf.constant([1.0, 0.0, 1.0, 1.0, 0.0])
    expected = [100.0, -np.log(0.8), -np.log(0.5), -np.log(0.9), 100.0]  # log clamped at -100
    assert np.allclose(losses.binary_cross_entropy(p, y).numpy(), expected, rtol=1e-5)


def test_binary_cross_entropy_has_finite_gradients_at_the_ends():
    """A cosine of exactly 0 or 1 (or 1 plus rounding) must not poison training with NaN."""
    p = tf.Variable([0.0, 1.0, 1.0000001, 0.0, 1.0, 0.5])
    y = tf.constant([1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.binary_cross_entropy(p, y))
    gradient = tape.gradient(loss, p).numpy()
    assert np.isfinite(float(loss)) and np.all(np.isfinite(gradient))
    assert float(loss) == pytest.approx(300.0 + np.log(2.0), rel=1e-5)
    assert gradient[5] == pytest.approx(-2.0)
    assert np.isnan(losses.binary_cross_entropy(tf.constant([np.nan]), tf.constant([1.0])).numpy()[0])


def test_lower_half_stack_is_frame_major():
    frames = np.zeros((2, 5, 96, 96, 3), np.float32)
    for k in range(5):
        frames[:, k, 48:] = [k, 10 + k, 20 + k]  # lower half marks frame and channel
    stacked = losses.lower_half_stack(tf.constant(frames)).numpy()
    assert stacked.shape == (2, 48, 96, 15)
    assert stacked[0, 0, 0].tolist() == [v for k in range(5) for v in (k, 10 + k, 20 + k)]


def tiny_config(tmp_path, **changes):
    values = dict(model="generator", data_dir=str(tmp_path), model_dir=str(tmp_path / "run"),
                  width=0.25, batch_size=2, sync_weight=0.5, disc_weight=0.1)
    values.update(changes)
    return training_config.Config(**values)


def fake_generator_batch(rng, batch=2):
    return {"face": tf.constant(rng.uniform(size=(batch, 5, 96, 96, 6)), tf.float32),
            "mels": tf.constant(rng.normal(size=(batch, 5, 80, 16, 1)), tf.float32),
            "sync_mel": tf.constant(rng.normal(size=(batch, 80, 16, 1)), tf.float32),
            "target": tf.constant(rng.uniform(size=(batch, 5, 96, 96, 3)), tf.float32)}


@pytest.mark.slow  # over 5 s on two cores: TensorFlow training steps
def test_frozen_expert_keeps_weights_and_statistics_and_judges_each_sample_alone(tmp_path):
    task = GeneratorTask(tiny_config(tmp_path), global_batch_size=2)
    rng = np.random.default_rng(0)
    # non-trivial moving statistics, so that inference mode differs from batch statistics
    statistics = [v for v in task.expert.variables if "moving_" in v.path]
    assert statistics
    for variable in statistics:
        low, high = (0.5, 1.5) if "variance" in variable.path else (-0.1, 0.1)
        variable.assign(rng.uniform(low, high, size=variable.shape).astype(np.float32))
    before = [v.numpy().copy() for v in task.expert.variables]
    generator_before = [v.numpy().copy() for v in task.generator.trainable_variables]
    batch = fake_generator_batch(rng)
    metrics = task.train_step(batch)
    assert np.isfinite(float(metrics["loss"])) and "adversarial" in metrics and "disc_real" in metrics
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, task.expert.variables))
    assert any(not np.array_equal(a, v.numpy())
               for a, v in zip(generator_before, task.generator.trainable_variables))
    # the sync loss of sample 0 does not depend on its batch companion
    generated = task.generate(batch, training=False)
    lower = losses.lower_half_stack(generated)
    pair, _ = losses.sync_loss(task.expert, batch["sync_mel"], lower, tf.ones(2), training=False)
    alone, _ = losses.sync_loss(task.expert, batch["sync_mel"][:1], lower[:1], tf.ones(1), training=False)
    assert abs(float(pair[0]) - float(alone[0])) < 1e-5


def test_sync_weight_switch_happens_once(tmp_path):
    config = tiny_config(tmp_path, sync_weight=0.0, sync_weight_after_switch=0.03, disc_weight=0.0)
    task = GeneratorTask(config, global_batch_size=2)
    assert task.schedule({"sync": 0.9, "l1": 0.1}) is None
    assert float(task.sync_weight.numpy()) == 0.0
    assert task.schedule({"sync": 0.7, "l1": 0.1}) is not None
    assert float(task.sync_weight.numpy()) == pytest.approx(0.03)
    assert task.schedule({"sync": 0.6, "l1": 0.1}) is None


def train_command(flagfile, data_dir, model_dir, *extra):
    return [sys.executable, os.path.join(ROOT, "train.py"), f"--flagfile={flagfile}",
            f"--data_dir={data_dir}", f"--model_dir={model_dir}", "--noprogress", *extra]


def run_train(*args, **kwargs):
    return subprocess.run(train_command(*args, **kwargs), cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def clips(synthetic_corpus):
    return str(synthetic_corpus.records)


@pytest.mark.slow  # over 5 s on two cores: TensorFlow training steps
def test_tiny_expert_killed_and_resumed(clips, tmp_path):
    model_dir = tmp_path / "expert"
    process = subprocess.Popen(train_command("configs/tiny_expert.flags", clips, model_dir,
                                             "--max_steps=60", "--checkpoint_interval=2",
                                             "--eval_interval=1000"),
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while (tf.train.latest_checkpoint(str(model_dir / "checkpoints")) is None
           and time.time() < deadline):
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    # the checkpoint the state file records (a kill can land between a checkpoint's data files
    # and the state-file update; the resume then rightly starts from the previous one)
    latest = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    assert latest is not None
    saved = int(latest.rsplit("-", 1)[1])
    assert saved < 60
    result = run_train("configs/tiny_expert.flags", clips, model_dir, f"--max_steps={saved + 3}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"at step {saved}" in result.stdout
    assert "trained 3 steps" in result.stdout
    assert (model_dir / "expert.weights.h5").is_file() and (model_dir / "best" / "expert.weights.h5").is_file()
    flags_text = (model_dir / "flags.txt").read_text()
    assert "--model=expert" in flags_text and "--width=0.25" in flags_text


@pytest.mark.slow  # over 5 s on two cores: TensorFlow training steps
def test_tiny_generator_gan_end_to_end(clips, tmp_path):
    expert_dir = tmp_path / "expert"
    assert run_train("configs/tiny_expert.flags", clips, expert_dir, "--max_steps=2").returncode == 0
    model_dir = tmp_path / "gan"
    result = run_train("configs/tiny_generator_gan.flags", clips, model_dir,
                       f"--expert_weights={expert_dir / 'expert.weights.h5'}", "--sync_switch_below=100")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sync weight 0 -> 0.03" in result.stdout
    assert "step 0: validation l1 " in result.stdout  # a fresh run measures its starting point
    for name in ("generator", "discriminator"):
        assert (model_dir / f"{name}.weights.h5").is_file()
    from tflipsync.weights import bundled
    from tools import package_embedded
    from tflipsync import models
    models.build_generator(0.25).load_weights(str(model_dir / "generator.weights.h5"))
    assert list((model_dir / "train").glob("events.out.tfevents.*"))
    # the two runs packaged as an embedded model, the way tflipsync/weights/ is made
    info = package_embedded.package(str(expert_dir), str(model_dir), "three random clips", str(tmp_path / "pack"))
    assert info["width"] == 0.25 and info["files"]["generator"]["step"] == 6  # the final weights
    assert info["files"]["generator"]["picked"] == "final" and info["files"]["expert"]["picked"] == "best"
    assert "l1" in info["files"]["generator"]["validation"]
    assert "--model=expert" in info["files"]["expert"]["flags"]
    assert bundled.load("generator", str(tmp_path / "pack")).width == 0.25
    assert "trained by train.py on three random clips" in bundled.describe(str(tmp_path / "pack"))


@pytest.mark.slow  # over 5 s on two cores: TensorFlow training steps
def test_non_finite_loss_stops_with_a_clear_message(tmp_path):
    data = write_clips(str(tmp_path / "nan"), nan_mel=True)
    result = run_train("configs/tiny_expert.flags", data, tmp_path / "run")
    assert result.returncode == 1
    assert "non-finite training loss at step 1" in result.stderr
    assert not list((tmp_path / "run" / "checkpoints").glob("ckpt-*.index"))


def test_curves_plot_train_and_validation_scalars(tmp_path):
    from tflipsync.training import curves

    for name, values in (("train", [0.7, 0.5, 0.3]), ("validation", [0.6, 0.4])):
        with tf.summary.create_file_writer(str(tmp_path / name)).as_default():
            for step, value in enumerate(values, start=1):
                tf.summary.scalar("loss", value, step=step * 10)
    scalars = curves.read_scalars(str(tmp_path / "train"))
    assert [step for step, _ in scalars["loss"]] == [10, 20, 30]
    assert [round(v, 5) for _, v in scalars["loss"]] == [0.7, 0.5, 0.3]
    curves.plot(str(tmp_path), str(tmp_path / "curves.png"), "t")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no scalar summaries"):
        curves.plot(str(tmp_path / "empty"), str(tmp_path / "x.png"))


def overfit(task, batch, steps):
    """(first, last) training loss of `steps` steps on the same batch."""
    step = tf.function(task.train_step)
    losses_seen = [float(step(batch)["loss"]) for _ in range(steps)]
    return losses_seen[0], losses_seen[-1]


@pytest.mark.slow  # over 5 s on two cores: TensorFlow training steps
def test_expert_overfits_four_fixed_samples(tmp_path):
    """20 Adam steps (lr 1e-3) on 4 fixed samples: measured 0.82 -> 0.02 (about 40x)."""
    from tflipsync.training.tasks.expert import ExpertTask

    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    config = training_config.Config(model="expert", data_dir=str(tmp_path), model_dir=str(tmp_path),
                                    width=0.25, learning_rate=1e-3)
    batch = {"mel": tf.constant(rng.normal(size=(4, 80, 16, 1)), tf.float32),
             "face": tf.constant(rng.uniform(size=(4, 48, 96, 15)), tf.float32),
             "label": tf.constant([1, 0, 1, 0], tf.float32)}
    first, last = overfit(ExpertTask(config, global_batch_size=4), batch, 20)
    assert last < first / 8, (first, last)


@pytest.mark.slow  # over 5 s on two cores: TensorFlow training steps
def test_generator_overfits_one_fixed_window(tmp_path):
    """20 Adam steps (lr 1e-2) of L1 on one 5-frame window of a smooth image: measured
    0.24 -> 0.085 (about 2.9x; noise targets cannot fall below their mean's L1, 0.25)."""
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    config = tiny_config(tmp_path, width=0.125, learning_rate=1e-2, sync_weight=0.0,
                         sync_weight_after_switch=0.0, disc_weight=0.0, batch_size=1)
    rows = np.linspace(0.0, 1.0, 96)[:, None, None]  # (96, 1, 1): a vertical colour ramp
    target = np.broadcast_to(0.2 + 0.6 * rows * np.array([1.0, 0.5, 0.2]), (1, 5, 96, 96, 3))
    masked = target.copy()
    masked[:, :, 48:] = 0
    batch = {"face": tf.constant(np.concatenate([masked, target], axis=-1), tf.float32),
             "mels": tf.constant(rng.normal(size=(1, 5, 80, 16, 1)), tf.float32),
             "sync_mel": tf.constant(rng.normal(size=(1, 80, 16, 1)), tf.float32),
             "target": tf.constant(target, tf.float32)}
    first, last = overfit(GeneratorTask(config, global_batch_size=1), batch, 20)
    assert last < first / 2, (first, last)
