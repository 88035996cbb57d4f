"""Checks of the test-only PyTorch re-statement of the original networks."""

import pytest

torch = pytest.importorskip("torch")

import torch_reference as ref  # noqa: E402  (tests/ is on sys.path under pytest)

torch.set_num_threads(2)

PARAMETERS = {"generator": 36_298_035, "expert": 16_435_072, "discriminator": 14_113_793}
STATE_KEYS = {"generator": 352, "expert": 217, "discriminator": 28}


@pytest.fixture(scope="module")
def models():
    return {kind: ref.randomize(ref.build(kind), seed=i) for i, kind in enumerate(ref.KINDS)}


def _inputs(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ref.KINDS)
def test_parameter_and_state_dict_counts(models, kind):
    assert ref.param_count(models[kind]) == PARAMETERS[kind]
    assert len(models[kind].state_dict()) == STATE_KEYS[kind]


def test_state_dict_layout(models):
    state = models["generator"].state_dict()
    assert tuple(state["face_decoder_blocks.1.0.conv_block.0.weight"].shape) == (1024, 512, 3, 3)
    for key in ("audio_encoder.12.conv_block.1.num_batches_tracked",
                "face_encoder_blocks.0.0.conv_block.1.running_var",
                "output_block.1.weight"):
        assert key in state
    assert "face_encoder_blocks.0.0.conv_block.0.weight" in models["discriminator"].state_dict()
    assert "binary_pred.0.bias" in models["discriminator"].state_dict()
    assert "face_encoder.16.conv_block.0.weight" in models["expert"].state_dict()
    assert "audio_encoder.13.conv_block.1.running_mean" in models["expert"].state_dict()


def test_generator_outputs(models):
    gen = models["generator"]
    audio, face = _inputs(2, 1, 80, 16) * 2 - 1, _inputs(2, 6, 96, 96, seed=1)
    with torch.no_grad():
        out = gen(audio, face)
        swapped = gen(audio.flip(0), face)  # each face with the other sample's audio
        clip = gen(_inputs(2, 5, 1, 80, 16) * 2 - 1, _inputs(2, 6, 5, 96, 96, seed=1))
    assert out.shape == (2, 3, 96, 96)
    # not saturated by the random initialisation (measured 0.052 to 0.943, std 0.17), so the
    # parity tests see every layer through the sigmoid
    assert 0.01 < out.min() and out.max() < 0.99
    assert out.std() > 0.02
    # the audio reaches the image (measured: up to 0.027 apart), so parity covers the audio encoder
    assert (swapped - out).abs().max() > 5e-3
    assert clip.shape == (2, 3, 5, 96, 96)


def test_generator_clip_form_matches_per_frame(models):
    gen = models["generator"]
    audio = _inputs(2, 3, 1, 80, 16) * 2 - 1
    face = _inputs(2, 6, 3, 96, 96, seed=1)
    with torch.no_grad():
        clip = gen(audio, face)
        frame = gen(audio[:, 1], face[:, :, 1])
    torch.testing.assert_close(clip[:, :, 1], frame, atol=1e-5, rtol=1e-4)


def test_expert_embeddings(models):
    with torch.no_grad():
        audio_emb, face_emb = models["expert"](_inputs(2, 1, 80, 16) * 2 - 1,
                                               _inputs(2, 15, 48, 96, seed=1))
    for emb in (audio_emb, face_emb):
        assert emb.shape == (2, 512)
        assert (emb >= 0).all()
        torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))


def test_discriminator_outputs(models):
    disc = models["discriminator"]
    with torch.no_grad():
        out = disc(_inputs(2, 3, 96, 96))
        clip = disc(_inputs(2, 3, 4, 96, 96, seed=1))
    assert out.shape == (2, 1)
    assert ((0 <= out) & (out <= 1)).all()
    assert clip.shape == (8, 1)


def test_randomize_is_deterministic():
    a = ref.randomize(ref.build("discriminator"), seed=7).state_dict()
    b = ref.randomize(ref.build("discriminator"), seed=7).state_dict()
    c = ref.randomize(ref.build("discriminator"), seed=8).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["binary_pred.0.weight"], c["binary_pred.0.weight"])


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_checkpoint_round_trip(models, tmp_path, legacy):
    model = models["discriminator"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = tmp_path / "disc.pth"
    ref.save_checkpoint(model, path, legacy=legacy, prefix="module.")
    with open(path, "rb") as fh:
        is_zip = fh.read(2) == b"PK"
    assert is_zip != legacy
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["global_step"] == 1234 and ckpt["global_epoch"] == 5
    state = ckpt["state_dict"]
    assert sorted(state) == sorted("module." + k for k in before)
    assert all(torch.equal(state["module." + k], v) for k, v in before.items())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    assert len(ckpt["optimizer"]["state"]) == len(list(model.parameters()))
    assert "exp_avg" in ckpt["optimizer"]["state"][0]
