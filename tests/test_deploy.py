"""Exports: the folded inference graph, TFLite in each mode, the TF-Serving SavedModel, and the
sync engines that run them, compared with Keras on real samples of a small synthetic corpus.

Tolerances (embedded width-0.25 model, real samples): the folded graph and TFLite fp32 within
1e-4 of Keras (float rounding of a different summation order); fp16 weights >= 40 dB PSNR; full
int8 >= 27.5 dB (28.5 measured); the SavedModel's uint8 output within one grey level of Keras
rounded to uint8.
"""

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tflipsync.audio import io as audio_io, mel as audio_mel
from tflipsync.weights import bundled
from tflipsync.inference import plan, sync
from tflipsync import files
from tflipsync.deploy import graph, quantize, saved_model, tflite
from tflipsync.deploy.runtime import interpreter, run_keras, run_tflite
from tflipsync.deploy.samples import real_samples
from tflipsync.deploy.signatures import PCM_SAMPLES
from tflipsync.errors import InputError
from tflipsync.evaluation import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def corpus(synthetic_corpus):
    """The records of the session's synthetic corpus (tests/conftest.py)."""
    return str(synthetic_corpus.records)


@pytest.fixture(scope="module")
def generator():
    return bundled.load("generator")


@pytest.fixture(scope="module")
def samples(corpus):
    return real_samples("generator", corpus, None, 20, seed=3)


def test_folded_graph_is_the_keras_function(generator, samples):
    expert = bundled.load("expert")
    run = tf.function(graph.inference_function(generator))
    got = run(tf.constant(samples["mel"]), tf.constant(samples["face"])).numpy()
    want = run_keras(generator, "generator", samples)
    assert np.abs(got - want).max() < 1e-4
    expert_samples = {"mel": samples["mel"][:4], "face": np.random.default_rng(0).uniform(size=(4, 48, 96, 15))}
    got = tf.function(graph.inference_function(expert))(expert_samples["mel"], expert_samples["face"].astype(np.float32))
    want = run_keras(expert, "expert", expert_samples)
    assert max(float(np.abs(g.numpy() - w).max()) for g, w in zip(got, want)) < 1e-4


def test_tflite_float_modes_match_keras_and_audio_to_mel_matches_numpy(generator, samples):
    reference = run_keras(generator, "generator", samples)
    fp32, info = tflite.convert("generator", generator, "fp32", batch=4)
    assert info["signatures"] == ["generate", "audio_to_mel"]
    out = run_tflite(fp32, "generator", samples)[0]  # 20 samples through a batch-4 file
    assert out.shape == reference.shape and np.abs(out - reference).max() < 1e-4
    for runtime in ("tf", "litert"):
        runner = interpreter(fp32, 1, runtime).get_signature_runner("audio_to_mel")
        pcm = np.random.default_rng(1).uniform(-0.5, 0.5, PCM_SAMPLES).astype(np.float32)
        assert np.abs(runner(pcm=pcm)["mel"] - audio_mel.melspectrogram(pcm)).max() < 2e-3
    fp16, _ = tflite.convert("generator", generator, "fp16", batch=1)
    assert len(fp16) < 0.6 * len(fp32)
    assert metrics.pooled_psnr(run_tflite(fp16, "generator", samples)[0], reference) >= 40.0


@pytest.mark.slow  # 12-21 s measured (--durations, two busy CPU cores)
def test_int8_is_integer_inside_and_mixed_measures_its_choice(generator, samples):
    calibration = {k: samples[k][:10] for k in ("mel", "face")}
    held_out = {k: samples[k][10:] for k in ("mel", "face")}
    content, info = tflite.convert("generator", generator, "int8", calibration=calibration, outlier_factor=None)
    assert info["signatures"] == ["generate"] and info["calibration_samples"] == 10
    details = interpreter(content)._get_ops_details()
    conv_types = {interpreter(content).get_tensor_details()[d["outputs"][0]]["dtype"]
                  for d in details if d["op_name"] in ("CONV_2D", "TRANSPOSE_CONV")}
    assert conv_types == {np.int8}
    out = run_tflite(content, "generator", held_out)[0]
    assert out.shape == (10, 96, 96, 3) and np.isfinite(out).all()
    # against Keras fp32 on the 10 held-out samples: measured 28.5 dB
    assert metrics.pooled_psnr(out, run_keras(generator, "generator", held_out)) >= 27.5
    # a target already met by the full int8 file keeps nothing in float, after one measured trial
    mixed, info = tflite.convert("generator", generator, "mixed", calibration=calibration, held_out=held_out,
                                 target_psnr=0.0, log=lambda line: None)
    assert info["float_groups"] == [] and len(info["trials"]) == 1 and info["psnr_on_held_out"] > 0


def test_calibration_leaves_out_samples_that_blow_up_the_activations(generator, samples):
    calibration = {k: samples[k][:12].copy() for k in ("mel", "face")}
    calibration["face"][7] *= 6.0  # far brighter than any real crop: every activation grows
    kept, dropped = quantize.typical_samples(generator, calibration)
    assert dropped >= 1 and len(kept["mel"]) == 12 - dropped and len(kept["face"]) == len(kept["mel"])
    # the blown-up sample is among the dropped ones, and real samples are mostly kept
    assert not any(np.array_equal(face, calibration["face"][7]) for face in kept["face"])
    assert len(kept["mel"]) >= 8
    _, info = tflite.convert("generator", generator, "int8", calibration=calibration, log=lambda line: None)
    assert info["calibration_samples"] == len(kept["mel"]) and info["calibration_outliers_dropped"] == dropped


def test_layer_groups_go_from_the_output_back_then_the_encoders():
    names = ["face_encoder_blocks_0_0_act/x", "face_decoder_blocks_6_1_act/y", "output_block_1/z",
             "face_decoder_blocks_5_0_crop/w", "audio_encoder_3_act/v", "face_decoder_blocks_6_0_act/u"]
    groups = quantize.layer_groups(names)
    assert [g for g, _ in groups] == ["output_block", "face_decoder_blocks_6", "face_decoder_blocks_5",
                                      "face_encoder_blocks_0", "audio_encoder"]
    assert groups[1][1] == ["face_decoder_blocks_6_1_act/y", "face_decoder_blocks_6_0_act/u"]
    # mixed narrows a group to its single layers (in order), cheapest first by their convolutions
    assert quantize.single_layers(names, "face_decoder_blocks_6") == ["face_decoder_blocks_6_1", "face_decoder_blocks_6_0"]


def test_layer_flops_add_up_to_the_network(generator):
    from tflipsync.models import stats

    prefixes = (["output_block", "audio_encoder"] + [f"face_decoder_blocks_{k}" for k in range(7)]
                + [f"face_encoder_blocks_{k}" for k in range(7)])
    assert sum(stats.flops_per_example(generator, p) for p in prefixes) == stats.flops_per_example(generator)
    # the transposed convolution opening decoder stage 6 is counted (per input pixel)
    assert 0 < stats.flops_per_example(generator, "face_decoder_blocks_6_0") < stats.flops_per_example(
        generator, "face_decoder_blocks_6_1")


def test_conversion_is_builtin_only():
    """An op TFLite has no builtin for fails to convert instead of pulling in TensorFlow ops."""
    module = tf.Module()
    module.f = tf.function(lambda x: {"s": tf.linalg.svd(x, compute_uv=False)},
                           input_signature=[tf.TensorSpec([4, 4], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.f.get_concrete_function()], module)
    tflite.configure(converter, "fp32", None)
    with pytest.raises(Exception, match="(?i)svd|not supported|select"):
        converter.convert()


@pytest.mark.slow  # 17-55 s measured (--durations, two busy CPU cores)
def test_savedmodel_serves_uint8_like_keras_and_from_pcm_cuts_sync_windows(generator, samples, tmp_path):
    path = saved_model.export(generator, str(tmp_path), "lips", 3)
    assert path == str(tmp_path / "lips" / "3") and (tmp_path / "models.config").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o777 & ~umask  # a plain mkdir's mode, not mkdtemp's 0700
    with pytest.raises(InputError, match="already exists"):
        saved_model.export(generator, str(tmp_path), "lips", 3)
    loaded = tf.saved_model.load(path)  # as the model server does: tag serve, signatures by key
    assert set(loaded.signatures) == {"serving_default", "from_pcm"}
    rgb8 = lambda bgr: np.rint(bgr[..., ::-1] * 255).astype(np.uint8)  # noqa: E731
    target, reference = rgb8(samples["target"][:5]), rgb8(samples["face"][:5, ..., 3:])
    mel = samples["mel"][:5, ..., 0]
    served = loaded.signatures["serving_default"](face=target, reference=reference, mel=mel)["image"].numpy()
    masked = samples["target"][:5].copy()
    masked[:, 48:] = 0
    keras_in = {"mel": samples["mel"][:5], "face": np.concatenate([masked, samples["face"][:5, ..., 3:]], -1)}
    want = rgb8(run_keras(generator, "generator", keras_in))
    assert served.dtype == np.uint8 and np.abs(served.astype(int) - want.astype(int)).max() <= 1
    # from_pcm: frame k's window starts at int(80 (k - 1) / fps), as sync cuts them
    wav = np.random.default_rng(4).uniform(-0.3, 0.3, 16000).astype(np.float32)
    windows = plan.mel_windows(wav, 5, 25.0, offset=-1)
    by_pcm = loaded.signatures["from_pcm"](pcm=wav, face=target, reference=reference, fps=tf.constant(25.0))
    by_mel = loaded.signatures["serving_default"](face=target, reference=reference, mel=windows)
    assert np.abs(by_pcm["image"].numpy().astype(int) - by_mel["image"].numpy().astype(int)).max() <= 1
    shown = subprocess.run([os.path.join(BIN, "saved_model_cli"), "show", "--dir", path, "--all"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0
    assert "signature_def['serving_default']" in shown.stdout and "DT_UINT8" in shown.stdout


@pytest.mark.slow  # 9-29 s measured (--durations, two busy CPU cores)
@pytest.mark.parametrize("engine", ["tflite", "savedmodel"])
def test_sync_engines_give_the_keras_video(engine, generator, tmp_path):
    wav = os.path.join(ROOT, "examples", "speech.wav")
    short = tmp_path / "short.wav"
    audio_io.write_wav(short, audio_io.load_wav(wav)[:16000])
    face = os.path.join(ROOT, "examples", "astronaut.jpg")
    if engine == "tflite":
        weights = str(tmp_path / "g.tflite")
        files.write_bytes(weights, tflite.convert("generator", generator, "fp32", batch=1)[0])
    else:
        weights = saved_model.export(generator, str(tmp_path / "models"), "g", 1)
    results = {}
    for name, w in (("keras", None), (engine, weights)):
        out = tmp_path / f"{name}.mp4"
        summary = sync.run_sync(sync.Options(face=face, audio=str(short), out=str(out), engine=name,
                                             weights=w, progress=False))
        assert summary["frames"] == 25 and summary["generated"] > 0
        import av
        with av.open(str(out)) as container:
            results[name] = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    difference = np.abs(results["keras"].astype(int) - results[engine].astype(int))
    # H.264 noise over the same frames: the SavedModel rounds its crops to uint8 inside the graph,
    # and the encoder spreads a one-level difference over a block. Measured on the bundled photo
    # as Pillow decodes it: mean 0.046, 99.9th percentile 5 (4 with TensorFlow's JPEG decoder).
    assert difference.mean() < 0.5 and np.percentile(difference, 99.9) <= 6


@pytest.mark.slow  # 32-44 s measured (--durations, two busy CPU cores)
def test_export_command_writes_files_and_reports(corpus, tmp_path):
    out = tmp_path / "exported"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "export", "tflite.py"), "--out_dir", str(out),
                             "--modes", "fp32,int8", "--data_dir", corpus, "--calibration_samples", "10",
                             "--held_out_samples", "10", "--threads", "1", "--seconds", "0.2"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((out / "report.json").read_text())
    assert [r["mode"] for r in rows] == ["fp32", "int8"]
    assert rows[0]["psnr_db"] > 60 and rows[1]["bytes"] < 0.35 * rows[0]["bytes"]
    assert all(v > 0 for r in rows for v in r["frames_per_s"].values())
    assert "sync_confidence" in rows[0] and (out / "report.md").read_text().count("\n") == 4
    assert "fully_quantize" not in result.stderr  # the converter's C++ line, dropped by native_logs
    bad = subprocess.run([sys.executable, "-m", "tflipsync", "export", "tflite", "--out_dir", str(tmp_path / "x"),
                          "--modes", "int8", "--data_dir", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].endswith(
        "a preprocessed corpus folder is needed for int8, mixed and the report (tflipsync preprocess)")
    assert not (tmp_path / "x").exists()  # a refused export leaves no --out_dir behind


def test_models_config_points_into_the_serving_container(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    host = str(tmp_path / "models" / "lips")
    text = saved_model.models_config("lips", host)
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())  # as the server reads it
    (model,) = config.model_config_list.config
    assert model.name == "lips" and model.base_path == "/models/lips" and model.model_platform == "tensorflow"
    # the comment says what base_path a server outside the container needs
    assert f'base_path: "{host}"' in "".join(line for line in text.splitlines() if line.startswith("#"))


def test_float_export_needs_no_corpus(tmp_path, capsys):
    from tflipsync import cli

    out = tmp_path / "float"
    assert cli.main(["export", "tflite", "--out_dir", str(out), "--modes", "fp32", "--threads", "1",
                     "--seconds", "0.1"]) == 0
    rows = json.loads((out / "report.json").read_text())
    assert [r["mode"] for r in rows] == ["fp32"] and (out / "generator_fp32.tflite").stat().st_size == rows[0]["bytes"]
    assert rows[0]["frames_per_s"] and "psnr_db" not in rows[0]  # speed measured, quality needs samples
    assert "need --data_dir" in capsys.readouterr().out


@pytest.mark.parametrize("flags", [["--modes", "int8"], ["--modes", "fp32", "--data_dir", "missing"],
                                   ["--modes", "fp32", "--weights", "missing.weights.h5"]])
def test_refused_export_answers_before_tensorflow_and_leaves_no_folder(flags, tmp_path):
    from test_cli import run_cli

    out = tmp_path / "exported"
    status, _, messages, heavy = run_cli("export", "tflite", "--out_dir", str(out), *flags)
    assert status == 1 and len(messages) == 1 and messages[0].startswith("tflipsync export tflite: error: ")
    assert heavy == [] and not out.exists()
