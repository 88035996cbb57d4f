"""Official-checkpoint import: parity with an independent PyTorch re-statement, and refusals."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import torch_reference
from tflipsync import models
from tflipsync.weights.checkpoint import UnsafeCheckpointError, read_state_dict
from tflipsync.weights.convert import convert_checkpoint
from tflipsync.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Max abs difference allowed between the converted Keras model and PyTorch (the bound).
TOLERANCE = 1e-4


def _inputs(kind, batch, seed):
    """Random NHWC inputs for `kind`, and the same tensors in PyTorch's NCHW layout."""
    rng = np.random.default_rng(seed)
    if kind == "discriminator":
        nhwc = [rng.uniform(size=(batch, 96, 96, 3)).astype(np.float32)]
    else:
        face = (96, 96, 6) if kind == "generator" else (48, 96, 15)
        nhwc = [rng.normal(size=(batch, 80, 16, 1)).astype(np.float32) * 2.0,
                rng.uniform(size=(batch,) + face).astype(np.float32)]
    return nhwc, [torch.from_numpy(x.transpose(0, 3, 1, 2).copy()) for x in nhwc]


def _outputs(kind, keras_model, torch_model, batch=3, seed=0):
    nhwc, nchw = _inputs(kind, batch, seed)
    with torch.no_grad():
        expected = torch_model(*nchw)
    actual = keras_model(nhwc if len(nhwc) > 1 else nhwc[0], training=False)
    if kind == "expert":
        return [np.asarray(a) for a in actual], [e.numpy() for e in expected]
    expected = expected.numpy()
    if kind == "generator":
        expected = expected.transpose(0, 2, 3, 1)  # NCHW -> NHWC
    return [np.asarray(actual)], [expected]


@pytest.fixture(scope="module")
def small_checkpoints(tmp_path_factory):
    """Width-0.25 randomised reference networks saved in the original checkpoint format."""
    directory = tmp_path_factory.mktemp("small")
    saved = {}
    for kind in ("generator", "expert", "discriminator"):
        model = torch_reference.randomize(torch_reference.build(kind, 0.25), seed=7)
        path = directory / f"{kind}.pth"
        torch_reference.save_checkpoint(model, path)
        saved[kind] = (model, path)
    return saved


@pytest.mark.slow
@pytest.mark.parametrize("kind,legacy,prefix", [
    ("generator", True, ""),            # the 2020 format of the official releases
    ("expert", False, ""),
    ("discriminator", False, "module."),  # DataParallel-saved keys
])
def test_full_width_parity(kind, legacy, prefix, tmp_path):
    torch_model = torch_reference.randomize(torch_reference.build(kind), seed=3)
    checkpoint = tmp_path / f"{kind}.pth"
    torch_reference.save_checkpoint(torch_model, checkpoint, legacy=legacy, prefix=prefix)
    out = tmp_path / f"{kind}.weights.h5"
    result = convert_checkpoint(checkpoint, kind, out)
    assert result["width"] == 1.0 and result["global_step"] == 1234
    keras_model = models.build(kind)
    keras_model.load_weights(out)
    actual, expected = _outputs(kind, keras_model, torch_model)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        assert np.abs(a - e).max() < TOLERANCE
        assert e.std() > 1e-3  # the comparison is not between two constant outputs


@pytest.mark.slow  # 11 s measured (--durations, two busy CPU cores)
@pytest.mark.parametrize("kind", ["generator", "expert", "discriminator"])
def test_small_width_parity_and_width_detection(kind, small_checkpoints, tmp_path):
    torch_model, checkpoint = small_checkpoints[kind]
    out = tmp_path / f"{kind}.weights.h5"
    assert convert_checkpoint(checkpoint, kind, out)["width"] == 0.25
    keras_model = models.build(kind, 0.25)
    keras_model.load_weights(out)
    actual, expected = _outputs(kind, keras_model, torch_model, seed=1)
    for a, e in zip(actual, expected):
        assert np.abs(a - e).max() < TOLERANCE


def test_both_file_formats_give_identical_arrays(tmp_path):
    model = torch_reference.randomize(torch_reference.build("expert", 0.25), seed=2)
    zip_path, legacy_path = tmp_path / "zip.pth", tmp_path / "legacy.pth"
    torch_reference.save_checkpoint(model, zip_path)
    torch_reference.save_checkpoint(model, legacy_path, legacy=True, prefix="module.")
    from_zip, info = read_state_dict(zip_path)
    from_legacy, _ = read_state_dict(legacy_path)
    assert info["global_step"] == 1234 and info["global_epoch"] == 5
    assert sorted(from_zip) == sorted(from_legacy) == sorted(model.state_dict())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(from_zip[key], value.numpy())
        np.testing.assert_array_equal(from_legacy[key], value.numpy())


def _edited_checkpoint(tmp_path, kind, edit):
    model = torch_reference.randomize(torch_reference.build(kind, 0.25), seed=4)
    state = model.state_dict()
    edit(state)
    path = tmp_path / "edited.pth"
    torch.save({"state_dict": state, "global_step": 1}, path)
    return path


@pytest.mark.parametrize("edit,message", [
    (lambda s: s.pop("audio_encoder.3.conv_block.1.running_var"),
     "missing key audio_encoder.3.conv_block.1.running_var"),
    (lambda s: s.__setitem__("face_encoder_blocks.9.0.conv_block.0.weight", torch.zeros(1)),
     "unexpected key face_encoder_blocks.9.0.conv_block.0.weight"),
    (lambda s: s.__setitem__("output_block.1.weight", torch.zeros(3, 8, 3, 3)),
     "shape mismatch for output_block.1.weight"),
])
def test_bad_keys_are_named(tmp_path, edit, message):
    path = _edited_checkpoint(tmp_path, "generator", edit)
    out = tmp_path / "out.weights.h5"
    with pytest.raises(InputError, match=message.replace(".", r"\.")):
        convert_checkpoint(path, "generator", out)
    assert not out.exists()


def test_wrong_model_kind_is_named(small_checkpoints, tmp_path):
    _, checkpoint = small_checkpoints["expert"]
    with pytest.raises(InputError, match="this is a expert checkpoint, not a generator"):
        convert_checkpoint(checkpoint, "generator", tmp_path / "out.weights.h5")


class _RunsCode:
    """An object whose unpickling would call os.system: what a malicious checkpoint carries."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("container", ["torch_zip", "torch_legacy", "plain_pickle"])
def test_malicious_checkpoint_is_refused_without_running_it(container, small_checkpoints, tmp_path):
    marker = tmp_path / "code-ran"
    model, _ = small_checkpoints["discriminator"]
    payload = {"state_dict": model.state_dict(), "optimizer": _RunsCode(marker)}
    path = tmp_path / "evil.pth"
    if container == "plain_pickle":
        with open(path, "wb") as f:
            pickle.dump(_RunsCode(marker), f)
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=container == "torch_zip")
    out = tmp_path / "out.weights.h5"
    with pytest.raises(InputError) as caught:
        convert_checkpoint(path, "discriminator", out)
    assert "system" in str(caught.value) or isinstance(caught.value, UnsafeCheckpointError)
    assert "refused" in str(caught.value) or "not a" in str(caught.value)
    assert not marker.exists()
    assert not out.exists()


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello\n")
    with pytest.raises(InputError, match="notes.pth: "):
        read_state_dict(path)
    with pytest.raises(InputError, match="no such file"):
        read_state_dict(tmp_path / "missing.pth")


def _cli(*args, block_torch=True):
    """Runs `python -m tflipsync.weights.convert` in a child whose `import torch` fails."""
    prelude = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTorch())\n") if block_torch else ""
    code = prelude + "import runpy\nrunpy.run_module('tflipsync.weights.convert', run_name='__main__')"
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.slow  # 33 s measured (--durations, two busy CPU cores)
def test_command_line_converts_without_torch(small_checkpoints, tmp_path):
    model, checkpoint = small_checkpoints["expert"]
    out = tmp_path / "expert.weights.h5"
    result = _cli("--checkpoint", str(checkpoint), "--model", "expert", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "expert at width 0.25" in result.stdout
    keras_model = models.build_expert(0.25)
    keras_model.load_weights(out)
    actual, expected = _outputs("expert", keras_model, model)
    assert np.abs(actual[0] - expected[0]).max() < TOLERANCE


@pytest.mark.slow  # 29 s measured (--durations, two busy CPU cores)
def test_command_line_error_is_one_line(small_checkpoints, tmp_path):
    _, checkpoint = small_checkpoints["expert"]
    out = tmp_path / "g.weights.h5"
    result = _cli("--checkpoint", str(checkpoint), "--model", "generator", "--out", str(out))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("tflipsync")]
    assert len(lines) == 1 and str(checkpoint) in lines[0] and "not a generator" in lines[0]
    assert not out.exists()
