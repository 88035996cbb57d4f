"""The time-delayed landmark LSTM: normalisation, PCA, the delay, training, streaming TFLite, Predictor."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tflipsync.weights import bundled
from tflipsync.landmarks import mouth as mouth_points, predictor as landmark_predictor
from tflipsync.data import landmarks as landmark_data
from tflipsync.data import records
from tflipsync.deploy import landmarks as landmark_export
from tflipsync.deploy import runtime
from tflipsync.models import landmarks as landmark_models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILTIN_STEP_OPS = {"ADD", "CONCATENATION", "FULLY_CONNECTED", "LOGISTIC", "MUL", "RESHAPE",
                    "SPLIT", "TANH"}


def base_mesh(seed=0):
    """A face-like (468, 3) mesh in a unit frame: eyes at y = 0, mouth ring around y = 1."""
    rng = np.random.default_rng(seed)
    mesh = np.zeros((468, 3))
    mesh[:, :2] = rng.uniform(-1, 1.5, size=(468, 2))
    mesh[:, 2] = rng.normal(size=468)
    mesh[[33, 133], :2] = [[-0.7, 0.02], [-0.3, -0.02]]
    mesh[[362, 263], :2] = [[0.3, -0.02], [0.7, 0.02]]
    angle = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    ring = np.stack([-np.cos(angle), np.sin(angle)], axis=1)  # from the image-left corner
    mesh[list(mouth_points.MOUTH[:20]), :2] = [0, 1.0] + ring * [0.5, 0.15]
    mesh[list(mouth_points.MOUTH[20:]), :2] = [0, 1.0] + ring * [0.4, 0.05]
    return mesh


def posed(mesh, angle, scale, shift):
    """The mesh rotated in the image plane, scaled (z too) and moved, as a camera would see it."""
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = mesh * scale
    out[..., :2] = out[..., :2] @ rotation.T + shift
    return out


def speaking_meshes(loudness, times, seed):
    """Meshes (N, 468, 3) whose lower lip drops with the loudness (at the frame times)."""
    rng = np.random.default_rng(seed)
    mesh = base_mesh(seed)
    lower = [i for k, i in enumerate(mouth_points.MOUTH) if 1 <= k % 20 <= 9]  # lower lip points
    opening = np.interp(times * mouth_points.STEP_RATE, np.arange(len(loudness)), loudness)
    meshes = np.repeat(mesh[None], len(times), axis=0)
    meshes[:, lower, 1] += 0.3 * opening[:, None]
    return posed(meshes, rng.uniform(-0.4, 0.4), rng.uniform(80, 160), rng.uniform(100, 300, 2))


def write_speaking_clips(directory, count=4, frames=60, fps=25.0, seed=0):
    """Clip records whose mouth opening follows the mel's loudness, each speaker posed differently."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        steps = int(mouth_points.STEP_RATE * frames / fps) + 1
        loudness = np.clip(np.convolve(rng.uniform(-0.5, 1.5, steps), np.ones(6) / 6, "same"), 0, 1)
        loudness[:30] = 0.0  # leading silence (more than a tenth of the steps): the mouth at rest
        mel = (-4 + 8 * loudness[:, None] + rng.normal(0, 0.3, (steps, 80))).astype(np.float32)
        times = np.arange(frames) / fps
        records.write_clip(os.path.join(directory, f"g{index}", "00000.tfrecord"), {
            "frames": np.zeros((frames, 96, 96, 3), np.uint8), "present": np.ones(frames, bool),
            "times": times, "mel_starts": [int(80.0 * t) for t in times],
            "boxes": np.zeros((frames, 4)),
            "landmarks": speaking_meshes(loudness, times, seed * 100 + index),
            "audio": np.zeros(int(16000 * frames / fps), np.float32), "mel": mel, "fps": fps})
    return directory


def test_normalised_mouth_ignores_rotation_scale_and_translation():
    mesh = base_mesh()
    points, transform = mouth_points.normalise(mesh)
    assert points.shape == (40, 2) and transform.shape == (2, 3)
    moved = posed(mesh, 0.6, 2.7, [300.0, -40.0])
    moved_points, moved_transform = mouth_points.normalise(moved)
    np.testing.assert_allclose(moved_points, points, atol=1e-5)
    # eye centres at (-1/2, 0) and (1/2, 0): the unit is their distance
    np.testing.assert_allclose(points[0], [-0.5, 1.0], atol=1e-5)
    np.testing.assert_allclose(mouth_points.mouth_width(points), 1.0, atol=1e-5)
    np.testing.assert_allclose(mouth_points.denormalise(moved_points, moved_transform),
                               moved[list(mouth_points.MOUTH), :2], atol=1e-3)
    # batched, NaN where no face, and the TensorFlow form used by the pipeline agrees
    batch = np.stack([mesh, moved, np.full_like(mesh, np.nan)])
    batch_points, _ = mouth_points.normalise(batch)
    assert np.isnan(batch_points[2]).all()
    np.testing.assert_allclose(landmark_data.normalise_mouth(batch[:2]).numpy(), batch_points[:2],
                               atol=1e-5)


def test_mouth_indices_are_the_face_mesh_lip_rings():
    assert len(mouth_points.MOUTH) == len(set(mouth_points.MOUTH)) == 40
    assert mouth_points.MOUTH[0] == 61 and mouth_points.MOUTH[10] == 291  # outer corners
    assert mouth_points.MOUTH[20] == 78 and mouth_points.MOUTH[30] == 308  # inner corners
    assert {13, 14, 0, 17} <= set(mouth_points.MOUTH)


def test_pca_round_trip_and_plain_array_file(tmp_path):
    rng = np.random.default_rng(1)
    shapes = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 80)) + rng.normal(size=80)
    shapes = shapes.reshape(200, 40, 2)
    basis = mouth_points.PCABasis.fit(shapes, 3)
    assert basis.components.shape == (3, 80) and basis.explained == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(basis.reconstruct(basis.project(shapes)), shapes, atol=1e-4)
    basis.save(tmp_path / "basis.npz")
    with np.load(tmp_path / "basis.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["components", "mean", "total_variance", "variance"]
    loaded = mouth_points.PCABasis.load(tmp_path / "basis.npz")
    np.testing.assert_array_equal(loaded.project(shapes), basis.project(shapes))
    two = mouth_points.PCABasis.fit(shapes, 2)
    assert 0.5 < two.explained < 1.0  # three directions of variance: two components lose some


def test_step_targets_interpolate_frames_and_find_the_rest_mouth():
    rng = np.random.default_rng(2)
    times = np.arange(12) / 30.0
    points = rng.normal(size=(12, 40, 2)).astype(np.float32)
    valid = np.ones(12, bool)
    valid[7] = False
    steps, ok = mouth_points.frames_to_steps(points, times, valid, 40)
    # step 8 is at 0.1 s = frame 3 exactly; step 4 is at 0.05 s, halfway between frames 1 and 2
    np.testing.assert_allclose(steps[8], points[3], atol=1e-6)
    np.testing.assert_allclose(steps[4], (points[1] + points[2]) / 2, atol=1e-6)
    t = np.arange(40) / 80.0
    assert not ok[(t > 6 / 30) & (t < 8 / 30)].any()  # next to the frame without a face
    assert not ok[t > 11 / 30 + 1e-9].any() and ok[:16].all()
    tf_steps, tf_ok = landmark_data.frames_to_steps(tf.constant(points), tf.constant(times),
                                                    tf.constant(valid), 40)
    np.testing.assert_allclose(tf_steps.numpy(), steps, atol=1e-5)
    np.testing.assert_array_equal(tf_ok.numpy() > 0, ok)
    loudness = rng.uniform(size=40)
    loudness[[30, 31]] = -1.0  # invalid steps: never chosen even when quietest
    quiet = np.flatnonzero(ok)[np.argsort(loudness[ok], kind="stable")[:3]]  # ceil(0.1 * 26)
    rest = mouth_points.rest_mouth(steps, ok.astype(np.float32), loudness)
    np.testing.assert_allclose(rest, steps[quiet].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(landmark_data.rest_mouth(tf.constant(steps), tf.constant(ok, tf.float32),
                                                        tf.constant(loudness)).numpy(), rest, atol=1e-5)


def small_network(delay=3, bidirectional=False, seed=0):
    tf.keras.utils.set_random_seed(seed)
    network = landmark_models.LandmarkLSTM(delay=delay, units=8, pca_dims=3, bidirectional=bidirectional)
    rng = np.random.default_rng(seed)
    basis = mouth_points.PCABasis(rng.normal(size=(40, 2)) * 0.1, np.linalg.qr(rng.normal(size=(80, 3)))[0].T,
                               np.ones(3), 3.0)
    network.basis.set_basis(basis, rng.normal(size=(40, 2)))
    return network


def test_delayed_lstm_is_causal_and_the_bidirectional_one_is_not():
    x = np.random.default_rng(3).normal(size=(1, 20, 80)).astype(np.float32)
    changed = x.copy()
    changed[0, 12] += 1.0
    for network, earlier_moves in ((small_network(delay=3), False),
                                   (small_network(delay=0, bidirectional=True), True)):
        a = network(x)["coefficients"].numpy()[0]
        b = network(changed)["coefficients"].numpy()[0]
        moved = np.abs(a - b).max(axis=1) > 1e-7
        assert moved[12:].all()
        assert moved[:12].any() == earlier_moves
    # the delay pairs output t with the target of step t - delay
    outputs = tf.reshape(tf.range(10.0), [1, 10, 1])
    paired, targets, weights = landmark_models.shift_targets(outputs, outputs - 3.0, tf.ones([1, 10]), 3)
    np.testing.assert_array_equal(paired.numpy()[0, :, 0], [3, 4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(targets.numpy()[0, :, 0], [-3, -2, -1, 0, 1, 2, 3])
    assert weights.shape == (1, 7)
    with pytest.raises(ValueError, match="delay"):
        landmark_models.LandmarkLSTM(delay=2, bidirectional=True)


def test_config_round_trip_and_parameter_counts():
    network = landmark_models.build_landmark_lstm(delay=16, units=60, pca_dims=8)
    # LSTM 4 x 60 x (80 + 60 + 1), output 60 x 8 + 8
    assert sum(int(np.prod(v.shape)) for v in network.trainable_weights) == 33_840 + 488
    # the basis (rest, mean: 80 each; components 8 x 80) is stored but never trained
    assert sum(int(np.prod(v.shape)) for v in network.non_trainable_weights) == 160 + 640
    again = landmark_models.LandmarkLSTM.from_config(network.get_config())
    assert again.get_config() == network.get_config() == {
        "delay": 16, "units": 60, "pca_dims": 8, "points": 40, "bidirectional": False,
        "name": "landmark_lstm"}
    bidirectional = landmark_models.build_bidirectional_lstm(units=36, pca_dims=8)
    trained = sum(int(np.prod(v.shape)) for v in bidirectional.trainable_weights)
    assert trained == 2 * 4 * 36 * (80 + 36 + 1) + 72 * 8 + 8
    assert [layer.name for layer in network.layers] == ["mel", "lstm", "coefficients", "basis"]


def test_pipeline_gives_rest_relative_motion_of_posed_speakers(tmp_path):
    data = write_speaking_clips(str(tmp_path / "clips"), count=2)
    batch = next(iter(landmark_data.landmark_dataset(data, 4, sequence_steps=32, samples_per_clip=2,
                                                     shuffle_buffer=4)))
    assert batch["mel"].shape == (4, 32, 80) and batch["motion"].shape == (4, 32, 40, 2)
    assert batch["weight"].shape == (4, 32)
    steps = landmark_data.clip_arrays(os.path.join(data, "g0", "00000.tfrecord"))
    valid = steps["weight"] > 0
    # silence (the first steps) is the rest; the lower lip moves with the loudness, nothing else
    np.testing.assert_allclose(steps["motion"][:8], 0.0, atol=2e-3)  # lip travel: up to 0.3
    loud = np.argmax(steps["mel"].mean(axis=1) * valid)
    moved = np.abs(steps["motion"][loud]).max(axis=1) > 1e-3
    assert moved.any() and not moved[0] and not moved[10]  # the corners stay


def train_command(data_dir, model_dir, *extra):
    return [sys.executable, os.path.join(ROOT, "train.py"), "--flagfile=configs/tiny_landmarks.flags",
            f"--data_dir={data_dir}", f"--model_dir={model_dir}", "--noprogress", *extra]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data = write_speaking_clips(str(tmp_path_factory.mktemp("speaking")))
    model_dir = tmp_path_factory.mktemp("run") / "landmarks"
    result = subprocess.run(train_command(data, model_dir), cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return data, model_dir, result.stdout


@pytest.mark.slow  # its tiny_run training: 15-32 s measured (--durations, two busy CPU cores)
def test_tiny_train_end_to_end_learns(tiny_run):
    data, model_dir, stdout = tiny_run
    losses = [float(v) for v in re.findall(r"validation error [\d.]+, loss ([\d.]+)", stdout)]
    assert len(losses) == 3  # steps 0, 10, 20
    # the coefficient variance of the clips' motion: what predicting no motion scores
    basis, _ = landmark_data.fit_basis(data, None, 4)
    assert losses[-1] < 0.5 * losses[0] and losses[-1] < basis.variance.sum()
    for path in ("landmarks.weights.h5", "best/landmarks.weights.h5", "flags.txt"):
        assert (model_dir / path).is_file()
    assert list((model_dir / "validation").glob("events.out.tfevents.*"))
    assert "--model=landmarks" in (model_dir / "flags.txt").read_text()
    # the weights file carries the basis; the run's flags.txt gives the architecture
    predictor = landmark_predictor.Predictor(str(model_dir / "best" / "landmarks.weights.h5"))
    assert predictor.network.get_config()["units"] == 16 and predictor.delay == 4
    np.testing.assert_allclose(predictor.network.basis.components.numpy(), basis.components, atol=1e-5)


@pytest.mark.slow  # its tiny_run training: 15-32 s measured (--durations, two busy CPU cores)
def test_streaming_tflite_equals_the_sequence_model(tiny_run, tmp_path):
    _, model_dir, _ = tiny_run
    predictor = landmark_predictor.Predictor(str(model_dir / "landmarks.weights.h5"))
    content = landmark_export.convert(predictor.network)
    ops = {d["op_name"] for d in runtime.interpreter(content)._get_ops_details()}
    assert ops <= BUILTIN_STEP_OPS
    mel = np.clip(np.random.default_rng(4).normal(-1, 2, size=(150, 80)), -4, 4).astype(np.float32)
    sequence = predictor.predict_steps(mel)
    for name in ("tf", "litert"):
        streamed = landmark_export.stream(content, predictor.delay, mel, runtime=name)
        assert streamed.shape == sequence.shape == (150, 40, 2)
        np.testing.assert_allclose(streamed, sequence, atol=1e-4)
    # pushing in pieces gives the same points (the state carries over)
    runner = landmark_export.Stream(content, predictor.delay)
    pieces = [runner.push(mel[:2]), runner.push(mel[2:77]), runner.push(mel[77:]), runner.finish()]
    assert len(pieces[0]) == 0
    np.testing.assert_allclose(np.concatenate(pieces), sequence, atol=1e-4)


def test_export_command_writes_a_small_builtin_file_of_the_embedded_model(tmp_path):
    from tflipsync import cli

    out = tmp_path / "landmarks.tflite"
    assert cli.main(["export", "landmarks", f"--out={out}"]) == 0
    content = out.read_bytes()
    assert len(content) <= 2**20
    assert {d["op_name"] for d in runtime.interpreter(content)._get_ops_details()} <= BUILTIN_STEP_OPS
    predictor = landmark_predictor.Predictor()
    mel = mouth_points.mel_steps(np.random.default_rng(5).normal(0, 0.1, 16000).astype(np.float32))
    np.testing.assert_allclose(landmark_export.stream(content, predictor.delay, mel),
                               predictor.predict_steps(mel), atol=1e-4)


def test_embedded_model_is_recorded_and_checked(tmp_path):
    import shutil

    from tflipsync.errors import InputError

    entry = bundled.manifest()["files"]["landmarks"]
    assert entry["config"]["delay"] > 0 and not entry["config"]["bidirectional"]
    assert "--model=landmarks" in entry["flags"] and entry["step"] > 0
    assert os.path.getsize(bundled.weights_path("landmarks")) <= 2**20
    copy = tmp_path / "weights"
    shutil.copytree(bundled.WEIGHTS_DIR, copy)
    path = copy / entry["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="do not match their recorded sha256"):
        bundled.landmarks_config(str(copy))


@pytest.fixture(scope="module")
def held_out_clip(synthetic_corpus):
    """The first clip of the session's synthetic corpus (tests/conftest.py): a speaker the
    embedded model never saw."""
    return records.list_clips(str(synthetic_corpus.records))[0]


def test_embedded_predictor_follows_speech_on_a_held_out_clip(held_out_clip):
    clip = records.read_clip(held_out_clip)
    steps = landmark_data.clip_arrays(held_out_clip)
    predictor = landmark_predictor.Predictor()
    assert "embedded landmark LSTM" in predictor.description
    assert predictor.mean_shape.shape == (40, 2)
    frames = len(clip["present"])
    mouths = predictor.predict(clip["audio"], float(clip["fps"]), frames + 10)
    assert mouths.shape == (frames + 10, 40, 2) and mouths.dtype == np.float32
    # the speaker's own rest mouth plus the predicted motion, against the tracked mouth
    truth, _ = mouth_points.normalise(clip["landmarks"])
    frame_rest = mouth_points.rest_mouth(steps["points"], steps["weight"], steps["mel"].mean(axis=1))
    predicted = frame_rest + (mouths[:frames] - predictor.mean_shape)
    error = mouth_points.landmark_error(predicted, truth)[clip["present"]].mean()
    still = mouth_points.landmark_error(frame_rest[None], truth)[clip["present"]].mean()
    assert error < 0.8 * still, (error, still)
    # after the audio, silence: the mouth returns to rest
    np.testing.assert_allclose(mouths[-1], predictor.mean_shape, atol=0.05)
