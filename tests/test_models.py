"""Shapes, exact parameter counts, widths, config round trips and layer naming of the networks."""

import keras
import numpy as np
import pytest

from tflipsync import models
from tflipsync.weights.convert import torch_path
from tflipsync.models.stats import flops_per_example, trainable_parameters

# The original networks' trainable parameter counts (wav2lip.md §2.6).
REFERENCE_PARAMETERS = {"generator": 36_298_035, "expert": 16_435_072, "discriminator": 14_113_793}


@pytest.fixture(scope="module", params=sorted(REFERENCE_PARAMETERS))
def full_model(request):
    return request.param, models.build(request.param, 1.0)


def test_parameter_counts_equal_the_original(full_model):
    kind, model = full_model
    assert trainable_parameters(model) == REFERENCE_PARAMETERS[kind]


def test_generator_interface():
    model = models.build_generator(0.25)
    assert [t.name for t in model.inputs] == ["mel", "face"]
    assert [tuple(t.shape) for t in model.inputs] == [(None, 80, 16, 1), (None, 96, 96, 6)]
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(2, 80, 16, 1)).astype("float32")
    face = rng.uniform(size=(2, 96, 96, 6)).astype("float32")
    out = model([mel, face], training=False)
    assert out.shape == (2, 96, 96, 3)
    # the image is the logistic function of the last convolution (output_block_1, the layer the
    # converter fills with the original's output_block.1), against a NumPy reference
    logits = keras.Model(model.inputs, model.get_layer("output_block_1").output)(
        [mel, face], training=False)
    np.testing.assert_allclose(np.asarray(out), 1 / (1 + np.exp(-np.asarray(logits))), atol=1e-6)


def test_expert_embeddings_are_unit_and_non_negative():
    model = models.build_expert(0.25)
    assert [t.name for t in model.inputs] == ["mel", "face"]
    assert tuple(model.inputs[1].shape) == (None, 48, 96, 15)
    rng = np.random.default_rng(1)
    audio, video = model([rng.normal(size=(3, 80, 16, 1)).astype("float32"),
                          rng.uniform(size=(3, 48, 96, 15)).astype("float32")], training=False)
    assert audio.shape == video.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(audio, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(video, axis=1), 1.0, atol=1e-5)
    # the encoders end in a ReLU: a negative entry means it was lost
    assert np.asarray(audio).min() >= 0 and np.asarray(video).min() >= 0
    cosine = np.asarray(models.sync_probability(audio, video))
    assert cosine.shape == (3,)
    np.testing.assert_allclose(cosine, np.einsum("bc,bc->b", audio, video), atol=1e-6)
    # an embedding against itself is the in-sync extreme, above any other pair (0.30-0.32 here)
    np.testing.assert_allclose(np.asarray(models.sync_probability(audio, audio)), 1.0, atol=1e-5)
    assert cosine.max() < 0.9


def test_discriminator_sees_only_the_lower_half():
    model = models.build_discriminator(0.25)
    rng = np.random.default_rng(2)
    face = rng.uniform(size=(2, 96, 96, 3)).astype("float32")
    other_top = face.copy()
    other_top[:, :48] = rng.uniform(size=(2, 48, 96, 3))
    first, second = model(face), model(other_top)
    assert first.shape == (2, 1)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))


@pytest.mark.parametrize("kind", sorted(REFERENCE_PARAMETERS))
def test_width_scales_channels_and_cost(kind):
    full, half = models.build(kind, 1.0), models.build(kind, 0.5)
    ratio = trainable_parameters(half) / trainable_parameters(full)
    assert 0.24 < ratio < 0.26  # parameters go with width squared
    assert 0.24 < flops_per_example(half) / flops_per_example(full) < 0.29


def test_generator_flops_match_the_reference():
    # 7.93 GFLOP per frame for the faithful generator (deployment.md).
    assert round(flops_per_example(models.build_generator(1.0)) / 1e9, 2) == 7.93


@pytest.mark.parametrize("kind", sorted(REFERENCE_PARAMETERS))
def test_config_round_trip(kind, tmp_path):
    model = models.build(kind, 0.25)
    config = model.get_config()
    assert config["width"] == 0.25
    assert set(config) == {"width", "name", "trainable"}
    clone = type(model).from_config(config)
    assert trainable_parameters(clone) == trainable_parameters(model)
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model) and loaded.width == 0.25
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_layer_names_follow_the_pytorch_module_paths():
    model = models.build_generator(0.25)
    names = [layer.name for layer in model.layers if layer.weights]
    assert len(names) == len(set(names))
    paths = {torch_path(name) for name in names}
    assert "face_encoder_blocks.1.2.conv_block.0" in paths
    assert "face_decoder_blocks.3.0.conv_block.0" in paths
    assert "audio_encoder.12.conv_block.1" in paths
    assert "output_block.1" in paths
