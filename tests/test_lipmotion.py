"""The lip-motion evaluation on real speech (issue 16): its figures on signals with known answers,
the audio baselines, the measurement cache, and evaluate.py --protocol=lipmotion end to end on the
corpus's shortest held-out clip (skipped with its reason where ../shared/corpus is absent)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tflipsync.audio import frames
from tflipsync.errors import InputError
from tflipsync.evaluation import anchor, lipmotion, lipmotion_command, lipmotion_protocol
from tflipsync.landmarks import mouth

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "real")
SHORTEST = "clips/afourast__deep_lip_reading__media_example_demo.mp4"  # 0.9 s, 22 frames, test split
ANCHOR_CLIP = "clips/rizkiarm__LipNet__evaluation_samples_GRID_swiz3n.mp4"  # 3 s, test split


def smooth_signal(count, seed=0):
    """A mouth-opening-like signal: random, smoothed over a few frames."""
    noise = np.random.default_rng(seed).normal(size=count + 8)
    return np.convolve(noise, np.ones(5) / 5, mode="valid")[:count]


@pytest.mark.parametrize("shift", [-2, -1, 0, 1, 2])
def test_best_lag_r_finds_a_known_shift(shift):
    real = smooth_signal(200)
    output = np.roll(real, shift)  # output[i + shift] = real[i]
    r, lag = lipmotion.best_lag_r(output, real)
    assert lag == shift and r == pytest.approx(1.0, abs=1e-9)


def test_best_lag_r_is_low_on_noise_and_ignores_missing_frames():
    real = smooth_signal(300, seed=1)
    r, _ = lipmotion.best_lag_r(smooth_signal(300, seed=2), real)
    assert abs(r) < 0.3
    gappy = real.copy()
    gappy[::7] = np.nan  # frames without a face
    assert lipmotion.best_lag_r(gappy, real) == (pytest.approx(1.0), 0)
    assert lipmotion.best_lag_r(np.full(50, np.nan), real[:50]) == (pytest.approx(np.nan, nan_ok=True), None)
    assert np.isnan(lipmotion.best_lag_r(np.ones(50), real[:50])[0])  # a constant output has no r


def mouth_shape(opening=0.3):
    """40 mouth points in MOUTH's order: outer ring then inner ring (lower lip, then upper)."""
    t = np.linspace(0, np.pi, 11)
    lower = np.stack([-np.cos(t), 0.4 * np.sin(t)], -1)
    upper = np.stack([-np.cos(t), -0.4 * np.sin(t)], -1)[-2:0:-1]
    outer = np.concatenate([lower, upper])  # (20, 2)
    inner = outer * [0.8, opening / 0.4]
    return np.concatenate([outer, inner])


def test_procrustes_distance_is_zero_for_a_similar_copy_and_positive_for_another_mouth():
    truth = mouth_shape()
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    copy = 3.5 * truth @ rotation.T + [12.0, -4.0]
    assert lipmotion.procrustes_distance(copy, truth) == pytest.approx(0.0, abs=1e-9)
    assert lipmotion.procrustes_distance(truth[::-1] * [-1, 1], truth) > 0.01  # a mirror image is not aligned
    wider = mouth_shape(opening=0.05)
    distance = lipmotion.procrustes_distance(wider @ rotation.T, truth)
    assert 0.02 < distance < 0.5
    both = np.stack([copy, wider, np.full_like(truth, np.nan)])
    per_frame = lipmotion.procrustes_distance(both, np.stack([truth] * 3))
    assert np.isnan(per_frame[2]) and per_frame[1] == pytest.approx(distance)
    assert lipmotion.landmark_distance(both, np.stack([truth] * 3)) == pytest.approx(distance / 2)
    assert mouth.mouth_width(truth) == pytest.approx(2.0)


def test_mesh_found_share_and_sharpness_ratio():
    assert lipmotion.mesh_found_share([0.9, 0.2, np.nan, 0.5]) == 0.5
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    flat = np.full_like(rgb, 128)
    assert lipmotion.laplacian_variance(flat, (0, 0, 40, 40)) == 0.0
    assert lipmotion.laplacian_variance(rgb, (0, 0, 40, 40)) > 100
    assert lipmotion.lower_half((10, 20, 30, 41)) == (10, 30, 30, 41)
    assert lipmotion.sharpness_ratio([2.0, 1.0, np.nan, 5.0], [4.0, 1.0, 1.0, 0.0]) == pytest.approx(0.75)


def test_log_rms_of_silence_and_of_a_tone():
    fps, count = 25.0, 50
    silence = anchor.log_rms(np.zeros(32000, np.float32), fps, count)
    assert silence == pytest.approx(np.full(count, np.log(frames.RMS_FLOOR)))
    tone = 0.5 * np.sin(2 * np.pi * 400 * np.arange(32000) / 16000)
    loud = anchor.log_rms(tone, fps, count)
    assert loud[1:-1] == pytest.approx(np.full(count - 2, np.log(0.5 / np.sqrt(2))), abs=0.01)
    half = np.concatenate([np.zeros(16000), tone[:16000]])  # silence for 1 s, then the tone
    steps = anchor.log_rms(half, fps, count)
    assert steps[:24].max() < -10 and steps[26:].min() > -1.5


def test_frame_features_shape_and_band_response():
    wav = 0.3 * np.sin(2 * np.pi * 3000 * np.arange(16000) / 16000)
    mel = anchor.log_mel(wav)
    assert mel.shape == (101, 40)
    assert np.argmax(mel[50]) > 25  # 3 kHz lies in the upper bands
    features = anchor.frame_features(wav, 25.0, 25)
    assert features.shape == (25, 13 * 40)
    # frame 0's context is edge padded: its oldest six rows repeat frame 0's row
    assert np.allclose(features[0, :40], features[0, 6 * 40:7 * 40])


def test_ridge_recovers_a_known_linear_map_and_the_anchor_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=12)
    x = rng.normal(size=(400, 12))
    w, b = anchor.ridge(x, x @ weights + 3.0, alpha=1e-6)
    assert w == pytest.approx(weights, abs=1e-6) and b == pytest.approx(3.0, abs=1e-6)
    shrunk, _ = anchor.ridge(x, x @ weights, alpha=1e5)
    assert np.linalg.norm(shrunk) < 0.1 * np.linalg.norm(weights)
    clips = []
    for seed in range(6):
        features = np.random.default_rng(seed).normal(size=(150, 12)) * 4 + 2
        opening = (features @ weights) * 0.01 + 0.2
        opening[::10] = np.nan  # no face
        clips.append((features, opening))
    fitted = anchor.fit_anchor(clips[:4], clips[4:], lambda p, o: lipmotion.best_lag_r(p, o)[0], key="k")
    assert fitted.val_median_r.max() == fitted.val_median_r[list(anchor.ALPHAS).index(fitted.alpha)]
    assert fitted.val_median_r[0] > 0.999 and fitted.val_median_r[-1] < fitted.val_median_r.max()
    assert lipmotion.best_lag_r(fitted.predict(clips[5][0]), clips[5][1])[0] > 0.999
    fitted.save(tmp_path / "anchor.npz")
    loaded = anchor.RidgeAnchor.load(tmp_path / "anchor.npz")
    assert loaded.key == "k" and loaded.alpha == fitted.alpha
    assert loaded.predict(clips[5][0]) == pytest.approx(fitted.predict(clips[5][0]))


def test_measurement_cache_round_trip_is_keyed_by_the_clip_file(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not decoded: the cache answers")
    n = 4
    measured = {"opening": np.array([0.1, np.nan, 0.3, 0.2]), "points": np.zeros((n, 40, 2), np.float32),
                "presence": np.array([0.9, 0.1, 0.8, 0.7]), "boxes": np.ones((n, 4), np.float32),
                "present": np.array([True, True, True, False]), "sharpness": np.arange(n, dtype=float),
                "fps": 25.0, "size": np.array([160, 160])}
    path = lipmotion.cache_path(str(clip), str(tmp_path / "cache"))
    os.makedirs(os.path.dirname(path))
    lipmotion.save_measurement(path, measured)

    def refuse():
        raise AssertionError("a cached clip must not be measured again")

    loaded = lipmotion.measure_clip(str(clip), refuse, str(tmp_path / "cache"))
    for key in lipmotion.MEASURED:
        np.testing.assert_array_equal(loaded[key], measured[key])
    assert loaded["fps"] == 25.0
    clip.write_bytes(b"changed: another size, another key")
    assert lipmotion.cache_path(str(clip), str(tmp_path / "cache")) != path
    assert lipmotion.load_measurement(str(tmp_path / "cache" / "missing.npz")) is None


def test_source_frames_of_each_mode():
    assert lipmotion_protocol.source_frames("photo", 4, 10).tolist() == [0, 0, 0, 0]
    assert lipmotion_protocol.source_frames("video", 5, 3).tolist() == [2, 1, 0, 1, 2]


def test_check_inputs_names_the_bad_input(tmp_path):
    (tmp_path / "test.txt").write_text("clips/missing.mp4\n")
    with pytest.raises(InputError, match="missing.mp4: no such clip"):
        lipmotion_command.check_inputs(str(tmp_path), None, {"landmarks": None})
    with pytest.raises(InputError, match="'nope' is not an engine"):
        lipmotion_command.check_inputs(str(tmp_path), None, {"nope": None})
    with pytest.raises(InputError, match="no such folder"):
        lipmotion_command.check_inputs(str(tmp_path / "absent"), None, {"keras": None})


class StandInExpert:
    """Embeds a mel window by its column means and a face window by the mean of its pixels per
    frame, so that only shapes and the offset bookkeeping matter."""

    def embed_audio(self, mel):
        return np.asarray(mel).mean(axis=1)  # (B, 16)

    def embed_face(self, face):
        means = np.asarray(face).mean(axis=(1, 2))  # (B, 15): 5 frames x BGR
        return np.concatenate([means, np.ones((len(means), 1))], axis=-1)  # (B, 16)


def test_expert_figures_need_the_offset_search_span():
    crops = np.random.default_rng(0).integers(0, 255, (60, 96, 96, 3), dtype=np.uint8)
    wav = np.random.default_rng(1).normal(0, 0.1, 16000 * 3).astype(np.float32)
    lse_d, lse_c = lipmotion_protocol.expert_figures(StandInExpert(), crops, wav, 25.0)
    assert 0.0 <= lse_d <= np.sqrt(2) and lse_c >= 0.0
    short = lipmotion_protocol.expert_figures(StandInExpert(), crops[:30], wav, 25.0)  # < 2 * 15 + 5 frames
    assert np.isnan(short).all()


def test_table_and_json_show_missing_figures_as_such():
    clip = {"clip": "c", "speaker": "s", "frames": 22, "seconds": 3.0, "loudness_r": 0.2, "ridge_r": float("nan"),
            "source_r": -0.1}
    outputs = [{"clip": "c", "engine": "keras", "mode": "photo", "r": 0.5, "lag": 1, "landmark_distance": 0.04,
                "mesh_found": 1.0, "sharpness": 0.8},
               {"clip": "c", "engine": "keras", "mode": "video", "error": "x.mp4: no face",
                **{k: float("nan") for k in lipmotion_protocol.OUTPUT_KEYS}}]
    per_output, per_clip = lipmotion_protocol.medians([clip], outputs)
    report = {"clips": [clip], "outputs": outputs, "medians": per_output, "clip_medians": per_clip, "max_lag": 2,
              "anchor": None, "expert": None}
    table = lipmotion_command.format_table(report)
    assert "failed: x.mp4: no face" in table and "ridge r - (no anchor)" in table
    assert [row["failed"] for row in per_output] == [0, 1] and per_output[0]["r"] == 0.5
    data = json.loads(lipmotion_command.to_json(report))
    assert data["clips"][0]["ridge_r"] is None and data["medians"][1]["r"] is None


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(os.path.join(CORPUS, SHORTEST)),
                    reason=f"the real corpus is not at {CORPUS} (it ships with this workplace only)")
def test_evaluate_lipmotion_on_the_shortest_real_clip(tmp_path):
    """evaluate.py --protocol=lipmotion, photo mode, --engine landmarks, on a 0.9 s held-out clip;
    the ridge anchor is fitted on one 3 s clip here (train) and judged on the short one (val) to
    keep the test short: what is checked is the protocol's plumbing, not the anchor's quality."""
    for name, line in (("test.txt", SHORTEST), ("train.txt", ANCHOR_CLIP), ("val.txt", SHORTEST)):
        (tmp_path / name).write_text(line + "\n")
    out_json = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "evaluate.py"), "--protocol=lipmotion", f"--corpus_dir={CORPUS}",
         f"--filelist={tmp_path / 'test.txt'}", "--engine=landmarks", "--modes=photo",
         f"--cache_dir={tmp_path / 'cache'}", f"--anchor_filelists={tmp_path / 'train.txt'},{tmp_path / 'val.txt'}",
         f"--out_json={out_json}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out_json.read_text())
    (clip,), (output,) = report["clips"], report["outputs"]
    assert clip["frames"] == 22 and clip["speaker"] == "deeplipreading_demo_man"
    assert output["engine"] == "landmarks" and output["mode"] == "photo" and "error" not in output
    assert -1.0 <= output["r"] <= 1.0 and output["lag"] in range(-2, 3)
    assert 0.0 <= output["mesh_found"] <= 1.0 and output["frames"] >= 20
    assert 0.0 <= output["landmark_distance"] < 1.0 and output["sharpness"] > 0.0
    assert clip["loudness_r"] is not None and -1.0 <= clip["loudness_r"] <= 1.0
    assert report["anchor"]["alpha"] in anchor.ALPHAS
    assert sorted(os.listdir(tmp_path / "cache")) == sorted(
        [os.path.basename(lipmotion.cache_path(os.path.join(CORPUS, c), "")) for c in (SHORTEST, ANCHOR_CLIP)]
        + [lipmotion_protocol.ANCHOR_FILE])
    assert "medians over 1 clips" in result.stdout and "landmarks  photo" in result.stdout
