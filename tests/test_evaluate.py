"""Held-out evaluation: the metrics on known inputs, the fixed-reference generation, and
evaluate.py end to end on synthetic clips with the embedded model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tflipsync.errors import InputError
from tflipsync.evaluation import judges, metrics, protocol, sync

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_psnr_is_capped_for_identical_frames_and_follows_the_formula():
    a = np.full((3, 8, 8, 3), 0.5)
    assert metrics.mean_frame_psnr(a, a) == metrics.PSNR_CAP
    assert metrics.mean_frame_psnr(a + 0.1, a) == pytest.approx(20.0)  # MSE 0.01
    mixed = np.stack([a[0], a[0] + 0.1])  # one identical frame (capped), one at 20 dB
    assert metrics.mean_frame_psnr(mixed, np.stack([a[0], a[0]])) == pytest.approx((metrics.PSNR_CAP + 20.0) / 2)


def test_ssim_is_one_for_identical_frames_and_drops_with_noise():
    rng = np.random.default_rng(0)
    frames = rng.uniform(size=(2, 96, 96, 3)).astype(np.float32)
    assert metrics.ssim(frames, frames) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(frames + rng.normal(0, 0.2, frames.shape), 0, 1).astype(np.float32)
    assert metrics.ssim(noisy, frames) < 0.9


def test_temporal_figures_see_flicker_but_not_a_constant_offset():
    truth = np.tile(np.linspace(0, 0.5, 6)[:, None, None, None], (1, 4, 4, 3))  # steady change 0.1
    assert metrics.temporal_figures(truth + 0.2, truth) == pytest.approx((0.0, 0.0))
    flicker = truth + np.array([0, 0.05] * 3)[:, None, None, None]
    excess, error = metrics.temporal_figures(flicker, truth)
    # changes 0.15, 0.05, 0.15, 0.05, 0.15 against 0.1 each
    assert excess == pytest.approx(0.11 - 0.1) and error == pytest.approx(0.05)


def synthetic_embeddings(lag, count=80, width=32, noise=0.05, seed=0):
    """Audio embeddings of frames 0..count-1 and face embeddings of windows 20..count-21 that
    match the audio `lag` frames later (non-negative and sparse, as the expert's ReLU outputs:
    two unrelated ones have a cosine near 0.3, below the expert's 0.5)."""
    rng = np.random.default_rng(seed)
    audio = sync.l2_normalize(rng.uniform(size=(count, width)) ** 6)
    starts = np.arange(20, count - 20)
    face = sync.l2_normalize(audio[starts + lag] + noise * rng.uniform(size=(len(starts), width)))
    return face, audio, starts


@pytest.mark.parametrize("lag", [-4, 0, 3, 9])
def test_offset_search_recovers_a_constructed_lag(lag):
    face, audio, starts = synthetic_embeddings(lag)
    scores = sync.sync_scores(face, audio, starts)
    assert scores["best_offset"] == lag and scores["av_offset"] == -lag
    assert scores["curve"].shape == (31,)
    assert scores["lse_d"] == pytest.approx(scores["curve"].min())
    assert scores["lse_d"] < 0.2 and scores["lse_c"] > 0.3
    # the definitions on the brute-force curve: mean distance of L2-normalised embeddings per offset
    o = 7
    brute = np.mean([np.linalg.norm(f - audio[i + o]) for f, i in zip(face, starts)])
    assert scores["curve"][15 + o] == pytest.approx(brute)
    assert scores["lse_c"] == pytest.approx(np.median(scores["curve"]) - scores["lse_d"])
    # in sync at offset 0 only when there is no lag
    assert (scores["sync_accuracy"] > 0.9) == (lag == 0)
    assert (scores["d_at_0"] == pytest.approx(scores["lse_d"])) == (lag == 0)


def test_a_pair_shift_moves_the_alignment_it_is_judged_at():
    face, audio, starts = synthetic_embeddings(lag=5)
    moved = sync.sync_scores(face, audio, starts, shift=5)  # the pair's audio moved 5 frames
    assert moved["best_offset"] == 0 and moved["av_offset"] == 0 and moved["sync_accuracy"] > 0.9
    with pytest.raises(ValueError, match="audio frames"):
        sync.sync_scores(face, audio, starts, shift=6)  # window 59 + 6 + 15 > 79


def test_window_ranges_keep_every_offset_inside_the_audio():
    # 60 frames, audio windows for frames 0..55; frame j driven by the window at j - 1 + shift
    assert sync.frame_range(60, 56, 0) == (1, 57)
    assert sync.frame_range(60, 56, 6) == (0, 51)
    assert sync.frame_range(60, 56, -3) == (4, 60)
    for shift in (0, 6, -3):
        lo, hi = sync.frame_range(60, 56, shift)
        starts = sync.sync_window_starts(lo, hi, 56, shift)
        assert starts.min() >= lo and starts.max() + 5 <= hi
        assert starts.min() + shift - 15 == 0 or starts.min() == lo
        assert starts.max() + shift + 15 == 55 or starts.max() + 5 == hi
    assert sync.sync_window_starts(0, 30, 30, 0).size == 0  # too short for +-15
    assert sync.audio_frames(np.array([0, 3, 6, 9, 12]), 25) == 4  # 12 + 16 > 25
    assert sync.audio_frames(np.array([0, 3]), 25) == 2


def test_lower_half_windows_are_frame_major():
    frames = np.zeros((8, 96, 96, 3), np.float32)
    for k in range(8):
        frames[k, 48:] = [k, 10 + k, 20 + k]
        frames[k, :48] = -1  # the upper half must not appear
    windows = sync.lower_half_windows(frames, [0, 3])
    assert windows.shape == (2, 48, 96, 15)
    assert windows[1, 0, 0].tolist() == [v for k in range(3, 8) for v in (k, 10 + k, 20 + k)]
    assert windows.min() >= 0


def test_generation_uses_the_current_frame_as_reference_and_the_shifted_audio():
    rng = np.random.default_rng(1)
    frames = rng.uniform(size=(20, 96, 96, 3)).astype(np.float32)
    mel = rng.normal(size=(80, 80)).astype(np.float32)
    mel_starts = np.array([int(3.2 * i) for i in range(20)])
    calls = []

    def engine(mel_window, face):
        calls.append((mel_window, face))
        assert mel_window.shape[1:] == (80, 16) and face.shape[1:] == (96, 96, 6) and len(face) <= 4
        return face[..., 3:] * 0.5

    shift = 2
    out = protocol.generate_frames(engine, frames, mel, mel_starts, 3, 13, shift, batch_size=4)
    assert out.shape == (10, 96, 96, 3) and [len(f) for _, f in calls] == [4, 4, 2]
    windows = np.concatenate([m for m, _ in calls])
    faces = np.concatenate([f for _, f in calls])
    np.testing.assert_allclose(out, frames[3:13] * 0.5)
    for n, j in enumerate(range(3, 13)):
        start = mel_starts[j - 1 + shift]
        np.testing.assert_array_equal(windows[n], mel[start:start + 16].T)
        np.testing.assert_array_equal(faces[n, :48, :, :3], frames[j, :48])
        assert not faces[n, 48:, :, :3].any()
        np.testing.assert_array_equal(faces[n, ..., 3:], frames[j])


def test_clip_draw_is_seeded_and_keeps_filelist_order():
    paths = [f"c{i}" for i in range(10)]
    assert protocol.pick_clips(paths, 0, 1) == paths
    drawn = protocol.pick_clips(paths, 4, 7)
    assert drawn == protocol.pick_clips(paths, 4, 7) and len(drawn) == 4
    assert drawn == sorted(drawn, key=paths.index)


def evaluate_command(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "evaluate.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def held_out(synthetic_corpus, tmp_path_factory):
    """Two synthetic clips (about 70 and 85 frames) of a speaker the embedded model never saw: the
    first speaker of the session's corpus (tests/conftest.py), named by a filelist."""
    data = synthetic_corpus.records
    filelist = tmp_path_factory.mktemp("eval_list") / "list.txt"
    filelist.write_text("# the two clips\ns000/00000\ns000/00001\n")
    return str(data), str(filelist)


@pytest.mark.slow  # about 20 s on two CPU cores: TensorFlow start-up, 2 clips x 2 shifts
def test_evaluate_tells_real_from_shifted_audio_end_to_end(held_out, tmp_path):
    data, filelist = held_out
    out_json, out_png = tmp_path / "eval.json", tmp_path / "eval.png"
    result = evaluate_command("--flagfile=configs/eval_tiny.flags", f"--data_dir={data}",
                              f"--filelist={filelist}", f"--out_json={out_json}", f"--out_png={out_png}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "truth" in result.stdout and "LSE-D" in result.stdout
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(out_json.read_text())
    assert sorted(os.path.basename(c) for c in report["clips"]) == ["00000", "00001"]
    assert report["expert"].startswith("embedded expert") and report["config"]["audio_shift"] == [0, 6]
    rows = {(r["source"], r["shift"]): r for r in report["rows"]}
    assert list(rows) == [("truth", 0), ("truth", 6), ("keras", 0), ("keras", 6)]
    assert all(r["clips"] == 2 and r["windows"] > 40 and len(r["curve"]) == 31 for r in rows.values())
    real, shifted = rows["truth", 0], rows["truth", 6]
    # the real pair is in sync; audio moved 6 frames is found 6 frames off and judged out of sync there
    assert real["av_offset"] == 0 and shifted["av_offset"] == 6
    assert real["d_at_0"] < shifted["d_at_0"] - 0.3, (real, shifted)
    assert real["sync_accuracy"] > 0.8 and shifted["sync_accuracy"] < 0.5, (real, shifted)
    # the +-15 search finds the moved alignment, so LSE-D itself hardly changes (documented)
    assert abs(real["lse_d"] - shifted["lse_d"]) < 0.1
    assert real["lse_c"] > 0.3
    for shift in (0, 6):
        generated = rows["keras", shift]
        assert 15 < generated["psnr"] < metrics.PSNR_CAP and 0.3 < generated["ssim"] < 1.0
        assert np.isfinite([generated[k] for k in protocol.IMAGE_KEYS]).all()
        assert "psnr" not in rows["truth", shift]
        # the embedded generator follows the audio it is given, not the reference's own mouth
        assert generated["av_offset"] == 0 and generated["d_at_0"] < shifted["d_at_0"] - 0.3
    per_clip = [r for r in report["per_clip"] if r["source"] == "truth" and r["shift"] == 6]
    assert [r["av_offset"] for r in per_clip] == [6, 6]


@pytest.mark.slow  # about 10 s on two cores: converts and runs the expert
def test_a_converted_expert_judges_like_the_keras_one(held_out, tmp_path):
    """evaluate.py --expert_weights=EXPERT.tflite: the embeddings (and so every sync figure) match
    the Keras expert's on a clip's real windows."""
    from tflipsync.weights import bundled
    from tflipsync.data import records
    from tflipsync.deploy import tflite

    content, _ = tflite.convert("expert", bundled.load("expert"), "fp32", batch=3, log=lambda line: None)
    path = tmp_path / "expert_fp32.tflite"
    path.write_bytes(content)
    clip = records.read_clip(os.path.join(held_out[0], "s000", "00000.tfrecord"))
    frames = clip["frames"].astype(np.float32) / 255.0
    starts = list(range(0, 40, 5))
    faces = sync.lower_half_windows(frames, starts)
    mels = sync.mel_windows(clip["mel"], clip["mel_starts"], starts)
    keras_judge, tflite_judge = judges.sync_judge(), judges.sync_judge(str(path))
    assert isinstance(tflite_judge, judges.TFLiteExpertEmbedder) and tflite_judge.batch_size == 3
    keras_audio, keras_face = keras_judge.embed_audio(mels), keras_judge.embed_face(faces)
    lite_audio, lite_face = tflite_judge.embed_audio(mels), tflite_judge.embed_face(faces)
    assert lite_audio.shape == keras_audio.shape == (8, keras_audio.shape[1]) and lite_face.shape == keras_face.shape
    np.testing.assert_allclose(lite_audio, keras_audio, atol=1e-4)
    np.testing.assert_allclose(lite_face, keras_face, atol=1e-4)
    # the embeddings differ between windows, so a judge ignoring its input could not pass
    assert np.abs(keras_face[0] - keras_face[-1]).max() > 1e-2
    with pytest.raises(InputError, match="expert_width"):
        judges.sync_judge(str(path), width=0.25)


@pytest.mark.parametrize("case", ["data_dir", "filelist", "weights"])
def test_bad_input_names_the_file_and_writes_nothing(held_out, tmp_path, case):
    data, filelist = held_out
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    args = {"data_dir": str(data), "filelist": filelist}
    expected = {"data_dir": str(tmp_path / "missing"), "filelist": str(empty),
                "weights": str(tmp_path / "G.weights.h5")}[case]
    args[case] = expected
    out_json, out_png = tmp_path / "eval.json", tmp_path / "eval.png"
    result = evaluate_command("--flagfile=configs/eval_tiny.flags", *[f"--{k}={v}" for k, v in args.items()],
                              f"--out_json={out_json}", f"--out_png={out_png}")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"evaluate.py: error: {expected}: "), result.stderr
    assert not out_json.exists() and not out_png.exists() and not list(tmp_path.glob(".evaluate-*"))
