"""The articulation model (tflipsync/landmarks/articulation.py), its phones (tflipsync/audio/phones.py),
and the engine that `sync` picks by itself (tflipsync/inference/options.py)."""

import numpy as np
import pytest

from tflipsync.audio import frames, phones
from tflipsync.inference.options import Options, resolve_engine
from tflipsync.landmarks import articulation, mouth


def test_frame_means_average_each_period():
    rows = np.arange(20, dtype=np.float64)[:, None]  # 100 rows per second: row k at k / 100 s
    means = frames.frame_means(rows, 100.0, 10.0, 2)  # 10 fps: frame 1 spans 0.05 .. 0.15 s
    assert means[1, 0] == pytest.approx(np.mean(np.arange(5, 15)))
    assert means[0, 0] == pytest.approx(np.mean(np.arange(0, 5)))


def test_stack_context_pads_at_the_edges():
    rows = np.arange(4, dtype=np.float64)[:, None]
    stacked = frames.stack_context(rows, 1)
    assert stacked.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]


def test_phone_track_marks_segments_and_fills_silence():
    track = phones.track([("M", 2, 3), ("AA", 4, 6), ("+NSN+", 7, 7)], 10)
    assert track.shape == (10, len(phones.PHONES))
    assert np.all(track.sum(axis=1) == 1)
    assert track[2, phones.PHONES.index("M")] == 1 and track[5, phones.PHONES.index("AA")] == 1
    assert track[0, phones.SILENCE] == 1 and track[7, phones.SILENCE] == 1  # noise counts as silence


def test_phone_decoder_hears_speech_in_the_bundled_wav():
    from tflipsync.audio import io as audio_io

    wav = audio_io.load_wav("examples/speech.wav")
    track = phones.phone_track(wav)
    assert len(track) == 1 + len(wav) // 160
    assert track[:, phones.SILENCE].mean() < 0.6  # most of the speech is decoded as phones
    quiet = phones.phone_track(np.zeros(16000, np.float32))
    assert quiet[:, phones.SILENCE].mean() > 0.9


def test_ridge_recovers_a_linear_map_with_two_targets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6))
    truth = rng.normal(size=(6, 2))
    weights, bias = articulation.ridge(x, x @ truth + [1.0, -2.0], 1e-6)
    assert weights == pytest.approx(truth, abs=1e-6)
    assert bias == pytest.approx([1.0, -2.0], abs=1e-6)


def _model(gain=(1.0, 1.0)):
    features = 3
    modes = np.zeros((2, len(mouth.MOUTH) * 2))
    modes[0, articulation.LOWER * 2 + 1] = 1.0  # a unit of gap moves the lower inner lip down
    return articulation.ArticulationModel(np.zeros(features), np.ones(features), np.eye(features)[:, :2],
                                          np.zeros(2), gain, (0.1, 0.05), modes,
                                          np.zeros((len(mouth.MOUTH), 2)), {"trained_on": "a test"})


def test_model_round_trip_floor_and_motion(tmp_path):
    model = _model(gain=(2.0, 1.0))
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = articulation.ArticulationModel.load(path)
    assert loaded.info == {"trained_on": "a test"}
    excursions = loaded.excursions(np.array([[1.0, 0.5, 0.0], [-3.0, 0.0, 0.0]]))
    assert excursions[0].tolist() == pytest.approx([2.0, 0.5])
    assert excursions[1, 0] == articulation.FLOOR  # a gap below FLOOR is floored
    motion = loaded.motion(excursions)
    assert motion.shape == (2, len(mouth.MOUTH), 2)
    assert motion[0, articulation.LOWER, 1] == pytest.approx(0.2)  # 2 excursions x amplitude 0.1
    assert np.count_nonzero(motion[0]) == 1


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    from tflipsync.errors import InputError

    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(InputError, match="not an articulation model"):
        articulation.ArticulationPredictor(str(tmp_path / "other.npz"))


def assert_opens_with_speech_not_in_silence(predictor):
    """The bundled speech after a second of silence: the mouth about closed, then moving."""
    from tflipsync.audio import io as audio_io

    wav = audio_io.load_wav("examples/speech.wav")
    wav = np.concatenate([np.zeros(16000, np.float32), wav])  # one second of silence first
    points = predictor.predict(wav, 25.0, int(len(wav) / 16000 * 25))
    gap, _ = articulation.mouth_measures(points)
    rest_gap, _ = articulation.mouth_measures(predictor.mean_shape)
    assert np.abs(gap[:20] - rest_gap).max() < 0.25 * (gap.max() - rest_gap)  # about closed in silence
    assert gap[25:].std() > 3 * gap[:20].std()  # it moves while speaking


def test_embedded_predictor_opens_the_mouth_with_speech_and_not_in_silence():
    predictor = articulation.ArticulationPredictor()
    assert_opens_with_speech_not_in_silence(predictor)


@pytest.mark.parametrize("options,engine", [
    (dict(), None),  # model.json's choice
    (dict(weights="w.weights.h5"), "keras"),
    (dict(who="all"), "keras"),
    (dict(sketch="s.mp4"), "landmarks"),
    (dict(weights="my_articulation.npz"), "landmarks"),
    (dict(engine="tflite"), "tflite"),
])
def test_auto_engine(options, engine):
    from tflipsync.weights import bundled

    resolved = resolve_engine(Options(face="f.png", audio="a.wav", out="o.mp4", **options))
    assert resolved.engine == (engine or bundled.manifest()["default_engine"])


def test_landmark_engine_predicts_once_on_a_thread_started_before_pass_one():
    import threading

    from tflipsync.inference.engines.landmarks import LandmarkEngine

    class Counting:
        mean_shape = np.zeros((len(mouth.MOUTH), 2), np.float32)
        description = short_description = "counting"

        def __init__(self):
            self.threads = []

        def predict(self, wav, fps, count):
            self.threads.append(threading.current_thread().name)
            return np.zeros((count, len(mouth.MOUTH), 2), np.float32)

    engine = LandmarkEngine.__new__(LandmarkEngine)
    engine._predictor = Counting()
    wav = np.zeros(16000, np.float32)
    engine.begin(wav, 25.0, 25)
    assert engine._predicted(wav, 25.0, 25).shape == (25, len(mouth.MOUTH), 2)
    assert engine._predicted(wav, 25.0, 25).shape == (25, len(mouth.MOUTH), 2)  # nothing pending: made now
    assert engine._predictor.threads[0].startswith("mouth-predictor")
    assert engine._predictor.threads[1] == threading.current_thread().name
    engine.begin(wav, 25.0, 25)
    engine._predicted(wav, 30.0, 30)  # other arguments: the pending prediction is not used
    assert len(engine._predictor.threads) == 4


def test_mel_columns_are_the_mel_only_features():
    rng = np.random.default_rng(1)
    wav = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    spoken = rng.random((12, len(phones.PHONES)))  # phone shares stand-in: only their columns are dropped
    mel = articulation.features(wav, 25.0, 12, inputs="mel")
    assert mel.shape == (12, (2 * articulation.CONTEXT + 1) * frames.MEL_BANDS)
    means = frames.frame_means(frames.log_mel(wav), 100.0, 25.0, 12)
    both = frames.stack_context(np.concatenate([means - means.mean(axis=0), spoken], axis=1), articulation.CONTEXT)
    assert np.array_equal(articulation.mel_columns(both), mel)


def test_embedded_mel_only_predictor_decodes_no_phones(monkeypatch):
    from tflipsync.weights import bundled

    def refuse():
        raise AssertionError("a mel-only model must not decode phones")

    monkeypatch.setattr(phones, "PhoneDecoder", refuse)
    predictor = articulation.ArticulationPredictor(bundled.weights_path("articulation_mel"))
    assert predictor.model.inputs == "mel" and predictor.model.weights.shape == (13 * 40, 2)
    assert_opens_with_speech_not_in_silence(predictor)
