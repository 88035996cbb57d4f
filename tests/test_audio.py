"""Audio front end: decoding any media, the Wav2Lip mel spectrogram (numpy, TF, TFLite), windows."""

import os
import shutil
import subprocess
import warnings
import wave

import av
import librosa
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from tflipsync.audio import io as audio_io, mel as audio_mel, windows as audio_windows
from tflipsync.conventions import MEL_FPS, MEL_STEPS
from tflipsync.errors import InputError

# Max abs difference allowed on the normalised [-4, 4] mel scale.
MEL_TOLERANCE = 1e-3
SPEECH_TEXT = "The quick brown fox jumps over the lazy dog. Lip sync needs clear speech."
FPS_CASES = [24, 25, 29.97, 30000 / 1001, 30, 50, 60]


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    """Real speech from espeak-ng: (wav path, float samples at the file's rate, that rate)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: `apt-get install espeak-ng` "
                    "(see .ci/system-deps.sh)")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SPEECH_TEXT], check=True, capture_output=True)
    # Read with the standard library so that the reference does not depend on load_wav.
    with wave.open(str(path), "rb") as f:
        assert f.getnchannels() == 1 and f.getsampwidth() == 2
        rate = f.getframerate()
        samples = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2") / 32768.0
    assert 2.5 < samples.size / rate < 6.0
    return path, samples.astype(np.float32), rate


@pytest.fixture(scope="session")
def speech16k(speech):
    """The espeak speech resampled to 16 kHz independently of load_wav, float32 (N,)."""
    _, samples, rate = speech
    g = np.gcd(rate, 16000)
    return scipy.signal.resample_poly(samples, 16000 // g, rate // g).astype(np.float32)


def _write_wav(path, samples, rate):
    """Writes float samples (N,) or (channels, N) as 16-bit PCM with the wave module."""
    samples = np.atleast_2d(samples)
    pcm = np.round(np.clip(samples, -1.0, 32767 / 32768) * 32768).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[0])
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.T.tobytes())
    return pcm / 32768.0


def _encode(path, samples, rate, codec, video_frames=0, options=None):
    """Encodes float samples (channels, N) with PyAV, optionally after a small video stream."""
    samples = np.atleast_2d(samples).astype(np.float32)
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as out:
        if video_frames:
            video = out.add_stream("libx264", rate=25)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if codec:
            stream = out.add_stream(codec, rate=rate, layout=layout)
            if options:
                stream.codec_context.options = options
            for start in range(0, samples.shape[1], 1024):
                chunk = np.ascontiguousarray(samples[:, start:start + 1024])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                frame.sample_rate = rate
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        for i in range(video_frames):
            image = np.full((48, 64, 3), (7 * i) % 256, dtype=np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        if video_frames:
            out.mux(video.encode(None))


def _aligned_correlation(actual, expected):
    """Normalised correlation at the best lag (codecs add priming delay)."""
    full = scipy.signal.correlate(actual, expected, mode="full", method="fft")
    lag = int(np.argmax(full)) - (expected.size - 1)
    a, e = (actual[lag:], expected) if lag >= 0 else (actual, expected[-lag:])
    n = min(a.size, e.size)
    a, e = a[:n].astype(np.float64), e[:n].astype(np.float64)
    return float(a @ e / np.sqrt((a @ a) * (e @ e)))


# --------------------------------------------------------------------------------------------
# load_wav


def test_load_wav_resamples_espeak_output(speech, speech16k):
    path, samples, rate = speech
    assert rate == 22050  # espeak-ng's native rate, so this exercises resampling
    loaded = audio_io.load_wav(path)
    assert loaded.dtype == np.float32 and loaded.shape == speech16k.shape
    np.testing.assert_allclose(loaded, speech16k, atol=1e-6)
    native = audio_io.load_wav(path, sr=rate)
    np.testing.assert_allclose(native, samples, atol=1e-7)


@pytest.mark.parametrize("name, codec, rate, channels, options", [
    ("speech.wav", "pcm_s16le", 22050, 1, None),
    ("speech.flac", "flac", 22050, 1, None),
    ("speech.mp3", "libmp3lame", 22050, 1, None),
    ("speech.m4a", "aac", 22050, 1, None),
    ("speech.opus.ogg", "libopus", 48000, 1, None),
    # FFmpeg's own Vorbis encoder is experimental and stereo only; decoding is what is tested.
    ("speech.vorbis.ogg", "vorbis", 22050, 2, {"strict": "experimental"}),
])
def test_load_wav_decodes_audio_formats(tmp_path, speech, speech16k, name, codec, rate, channels,
                                        options):
    _, samples, native_rate = speech
    if rate != native_rate:
        samples = scipy.signal.resample_poly(samples, rate // 50, native_rate // 50)
    path = tmp_path / name
    _encode(path, np.repeat(samples[None], channels, axis=0), rate, codec, options=options)
    loaded = audio_io.load_wav(path)
    assert loaded.dtype == np.float32 and loaded.ndim == 1
    assert abs(loaded.size - speech16k.size) < 0.1 * 16000
    assert _aligned_correlation(loaded, speech16k) > 0.95


@pytest.mark.parametrize("name, codec", [("clip.mp4", "aac"), ("clip.mkv", "libopus")])
def test_load_wav_reads_audio_track_of_video(tmp_path, speech, speech16k, name, codec):
    _, samples, rate = speech
    if codec == "libopus":
        samples, rate = scipy.signal.resample_poly(samples, 320, 147), 48000
    path = tmp_path / name
    _encode(path, samples, rate, codec, video_frames=int(samples.size / rate * 25))
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
    loaded = audio_io.load_wav(path)
    assert abs(loaded.size - speech16k.size) < 0.1 * 16000
    assert _aligned_correlation(loaded, speech16k) > 0.95


def test_load_wav_downmixes_stereo_by_channel_mean(tmp_path, speech16k):
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(speech16k.size) / 16000)
    written = _write_wav(tmp_path / "stereo.wav", np.stack([speech16k, tone]), 16000)
    loaded = audio_io.load_wav(tmp_path / "stereo.wav")
    np.testing.assert_allclose(loaded, written.mean(axis=0), atol=1e-6)


@pytest.mark.parametrize("rate", [44100, 8000])
def test_load_wav_resamples_to_16k(tmp_path, speech, rate):
    _, samples, native_rate = speech
    g = np.gcd(rate, native_rate)
    source = scipy.signal.resample_poly(samples, rate // g, native_rate // g)
    path = tmp_path / f"speech_{rate}.flac"
    _encode(path, np.stack([source, source]), rate, "flac")
    loaded = audio_io.load_wav(path)
    assert abs(loaded.size - source.size / rate * 16000) <= 1
    g = np.gcd(rate, 16000)
    expected = scipy.signal.resample_poly(source, 16000 // g, rate // g)
    assert _aligned_correlation(loaded, expected) > 0.999


def _assert_input_error(path, problem, sr=16000):
    with pytest.raises(InputError) as caught:
        audio_io.load_wav(path, sr=sr)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and problem in message
    # No decoder exception chained behind ours: the user sees one line, not av's traceback.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_load_wav_rejects_missing_directory_and_empty(tmp_path):
    _assert_input_error(tmp_path / "absent.wav", "no such file")
    _assert_input_error(tmp_path, "directory")
    (tmp_path / "empty.mp3").write_bytes(b"")
    _assert_input_error(tmp_path / "empty.mp3", "empty file")


def test_load_wav_rejects_non_media(tmp_path):
    for name in ("notes.txt", "fake.wav"):
        (tmp_path / name).write_text("these words are not audio\n" * 20)
        _assert_input_error(tmp_path / name, "not a readable audio or video file")


def test_load_wav_rejects_video_without_audio(tmp_path):
    path = tmp_path / "silent_film.mp4"
    _encode(path, np.zeros((1, 0)), 16000, None, video_frames=5)
    _assert_input_error(path, "no audio stream")


def test_load_wav_rejects_file_without_samples(tmp_path):
    path = tmp_path / "header_only.wav"
    _write_wav(path, np.zeros((1, 0)), 16000)
    assert os.path.getsize(path) > 0
    _assert_input_error(path, "no audio samples")


def test_load_wav_rejects_bad_rate(speech):
    for sr in (0, -16000):
        with pytest.raises(ValueError, match="positive"):
            audio_io.load_wav(speech[0], sr=sr)


# --------------------------------------------------------------------------------------------
# Mel spectrogram


def _librosa_mel(wav):
    """The Wav2Lip definition written with librosa, as the original computes it."""
    emphasised = scipy.signal.lfilter([1, -0.97], [1], wav.astype(np.float64))
    spectrum = np.abs(librosa.stft(emphasised, n_fft=800, hop_length=200, win_length=800,
                                   pad_mode="reflect"))
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    db = 20 * np.log10(np.maximum(1e-5, basis @ spectrum)) - 20
    return np.clip(8 * (db + 100) / 100 - 4, -4, 4)


@pytest.fixture(scope="module")
def noise():
    """A length that is not a multiple of the hop, with a quiet tail below the dB floor."""
    rng = np.random.default_rng(0)
    x = 0.3 * rng.standard_normal(16123)
    x[12000:] *= 1e-7
    return x.astype(np.float32)


def test_mel_basis_matches_librosa():
    expected = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    basis = audio_mel.mel_basis()
    assert basis.shape == (80, 401) and basis is audio_mel.mel_basis()
    assert not basis.flags.writeable
    assert np.abs(basis - expected).max() < 1e-6


def test_melspectrogram_matches_librosa(speech16k, noise):
    for wav in (speech16k, noise):
        mel = audio_mel.melspectrogram(wav)
        assert mel.dtype == np.float32 and mel.shape == (80, 1 + wav.size // 200)
        assert np.abs(mel - _librosa_mel(wav)).max() < MEL_TOLERANCE
    # The quiet tail reaches the -4 floor, the speech the upper range: the test covers both ends.
    assert audio_mel.melspectrogram(noise)[:, -10:].max() == -4.0
    assert audio_mel.melspectrogram(speech16k).max() > 0.0


@pytest.mark.parametrize("length", [1, 2, 3, 150, 399, 400, 401, 1000, 2000 * 200 - 1, 2000 * 200 + 777])
def test_melspectrogram_in_blocks_equals_the_whole_signal_computation(length):
    """Each block is cut from the signal on its own (bounded memory); the figures must be those of
    pre-emphasising and reflect-padding the whole signal at once, also for signals shorter than
    the padding and at the block boundaries (blocks of 2,000 frames)."""
    wav = np.random.default_rng(length).uniform(-1, 1, length).astype(np.float32)
    x = wav.astype(np.float64)
    padded = np.pad(np.concatenate([x[:1], x[1:] - audio_mel.PREEMPHASIS * x[:-1]]), 400, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, 800)[::200]
    power = audio_mel.mel_basis() @ np.abs(np.fft.rfft(frames * audio_mel._hann(), axis=1)).T
    db = 20.0 * np.log10(np.maximum(1e-5, power)) - audio_mel.REF_LEVEL_DB
    want = np.clip(8.0 * (db - audio_mel.MIN_LEVEL_DB) / -audio_mel.MIN_LEVEL_DB - 4.0, -4.0, 4.0).astype(np.float32)
    got = audio_mel.melspectrogram(wav)
    assert got.shape == want.shape == (80, 1 + length // 200)
    np.testing.assert_array_equal(got, want)


def test_melspectrogram_rejects_empty_and_2d():
    with pytest.raises(ValueError):
        audio_mel.melspectrogram(np.zeros(0))
    with pytest.raises(ValueError):
        audio_mel.melspectrogram(np.zeros((2, 800)))


def test_tf_melspectrogram_matches_numpy(speech16k, noise):
    expected = audio_mel.melspectrogram(speech16k)
    eager = audio_mel.tf_melspectrogram(tf.constant(speech16k)).numpy()
    assert eager.shape == expected.shape
    assert np.abs(eager - expected).max() < MEL_TOLERANCE

    n = noise.size
    batch = np.stack([speech16k[:n], noise])
    batched = audio_mel.tf_melspectrogram(tf.constant(batch)).numpy()
    assert batched.shape == (2, 80, 1 + n // 200)
    for wav, mel in zip(batch, batched):
        assert np.abs(mel - audio_mel.melspectrogram(wav)).max() < MEL_TOLERANCE

    dynamic = tf.function(audio_mel.tf_melspectrogram,
                          input_signature=[tf.TensorSpec([None, None], tf.float32)])
    assert np.abs(dynamic(batch).numpy() - batched).max() < MEL_TOLERANCE
    static = tf.function(audio_mel.tf_melspectrogram).get_concrete_function(
        tf.TensorSpec([n], tf.float32))
    assert static.structured_outputs.shape.as_list() == [80, 1 + n // 200]
    assert np.abs(static(tf.constant(noise)).numpy() - batched[1]).max() < MEL_TOLERANCE


def test_tf_melspectrogram_rejects_short_static_input():
    with pytest.raises(ValueError, match="400"):
        audio_mel.tf_melspectrogram(tf.zeros([400]))


class _MelModule(tf.Module):
    def __init__(self, length):
        super().__init__()
        self.mel = tf.function(lambda wav: {"mel": audio_mel.tf_melspectrogram(wav)},
                               input_signature=[tf.TensorSpec([length], tf.float32)])


@pytest.mark.parametrize("length", [16000, 16123])
def test_tflite_builtin_ops_match_numpy(tmp_path, speech16k, length):
    module = _MelModule(length)
    tf.saved_model.save(module, str(tmp_path), signatures={"mel": module.mel})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path), signature_keys=["mel"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    model = converter.convert()

    # Without default delegates the op list is the model's own, not XNNPACK's DELEGATE node.
    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    plain = Interpreter(model_content=model, experimental_op_resolver_type=resolver)
    ops = {op["op_name"] for op in plain._get_ops_details()}
    assert "MIRROR_PAD" in ops
    assert not any(op.startswith("Flex") or op in ("CUSTOM", "DELEGATE", "RFFT2D") for op in ops)

    wav = speech16k[:length]
    expected = audio_mel.melspectrogram(wav)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreters = [Interpreter(model_content=model), tf.lite.Interpreter(model_content=model)]
    for interpreter in interpreters:
        mel = interpreter.get_signature_runner("mel")(wav=wav)["mel"]
        assert mel.shape == expected.shape == (80, 1 + length // 200)
        assert np.abs(mel - expected).max() < MEL_TOLERANCE


# --------------------------------------------------------------------------------------------
# Windows


def _columns(total):
    """A (80, total) array whose entries identify their column."""
    return np.tile(np.arange(total, dtype=np.float32), (80, 1)) + np.arange(80)[:, None] * 1e4


def test_window_constants_and_mel_start():
    assert (MEL_FPS, MEL_STEPS) == (80, 16)
    assert audio_windows.mel_start(5, 25) == 16
    assert [audio_windows.mel_start(f, 25) for f in range(200)] == [int(3.2 * f) for f in range(200)]


@pytest.mark.parametrize("fps", FPS_CASES)
def test_window_starts_equals_scalar_formula(fps):
    frames = np.arange(0, 20000)
    for offset in (0, -1, 3):
        expected = [int(80.0 * ((f + offset) / float(fps))) for f in frames]
        vectorised = audio_windows.window_starts(frames, fps, offset)
        assert vectorised.dtype == np.int64
        assert vectorised.tolist() == expected
    assert audio_windows.window_starts(frames, fps).tolist() == [audio_windows.mel_start(f, fps) for f in frames]


def test_sync_window():
    mel = _columns(100)
    window = audio_windows.sync_window(mel, 5, 25)
    np.testing.assert_array_equal(window, mel[:, 16:32])
    assert audio_windows.sync_window(mel, 26, 25).shape == (80, 16)  # starts at 83, ends at 99
    assert audio_windows.sync_window(mel, 27, 25) is None  # starts at 86, would end at 102
    assert audio_windows.sync_window(mel, -1, 25) is None


def test_frame_windows():
    mel = _columns(100)
    windows = audio_windows.frame_windows(mel, 3, 25)
    assert windows.shape == (5, 80, 16)
    for k, start in enumerate(int(3.2 * f) for f in range(2, 7)):
        np.testing.assert_array_equal(windows[k], mel[:, start:start + 16])
    assert audio_windows.frame_windows(mel, 0, 25) is None
    assert audio_windows.frame_windows(mel, 1, 25).shape == (5, 80, 16)
    assert audio_windows.frame_windows(mel, 23, 25) is not None  # last window starts at int(3.2 * 26) = 83
    assert audio_windows.frame_windows(mel, 24, 25) is None  # last window would start at 86
    for fps in FPS_CASES:
        starts = audio_windows.window_starts(np.arange(10, 13), fps, offset=-1)
        got = audio_windows.frame_windows(mel, 10, fps, count=3)
        np.testing.assert_array_equal(got[:, 0, 0], starts)


def test_inference_windows():
    mel = audio_mel.melspectrogram(np.zeros(160000, dtype=np.float32))  # 10 s of audio
    assert mel.shape == (80, 801)
    mel = _columns(801)
    windows = audio_windows.inference_windows(mel, 25)
    assert windows.shape == (247, 80, 16)
    np.testing.assert_array_equal(windows[-1], mel[:, -16:])
    assert windows[:-1, 0, 0].tolist() == [int(i * 3.2) for i in range(246)]
    for fps in FPS_CASES:
        windows = audio_windows.inference_windows(mel, fps)
        regular = windows.shape[0] - 1
        assert windows[:-1, 0, 0].tolist() == [int(i * (80.0 / fps)) for i in range(regular)]
        assert windows[-1, 0, 0] == 801 - 16
        assert int(regular * (80.0 / fps)) + 16 > 801  # the next regular chunk would overrun
    assert audio_windows.inference_windows(_columns(16), 25).shape == (2, 80, 16)
    with pytest.raises(ValueError):
        audio_windows.inference_windows(_columns(15), 25)


def test_tf_gather_windows_in_dataset():
    mel = _columns(120)
    starts = audio_windows.window_starts(np.arange(0, 30), 25)
    starts = starts[starts + 16 <= 120].astype(np.int32)
    eager = audio_windows.tf_gather_windows(tf.constant(mel), tf.constant(starts)).numpy()
    assert eager.shape == (starts.size, 80, 16)
    for k, start in enumerate(starts):
        np.testing.assert_array_equal(eager[k], audio_windows.sync_window(mel, k, 25))
    dataset = tf.data.Dataset.from_tensors((mel, starts)).map(audio_windows.tf_gather_windows)
    np.testing.assert_array_equal(next(iter(dataset)).numpy(), eager)


def test_cut_windows_is_slicing_and_refuses_windows_outside_the_mel():
    mel = _columns(40)
    starts = np.array([[0, 3], [20, 24]])
    windows = audio_windows.cut_windows(mel, starts)
    assert windows.shape == (2, 2, 80, 16) and windows.flags.c_contiguous
    for index in np.ndindex(starts.shape):
        np.testing.assert_array_equal(windows[index], mel[:, starts[index]:starts[index] + 16])
    assert audio_windows.cut_windows(mel, []).shape == (0, 80, 16)
    for bad in (-1, 25):
        with pytest.raises(ValueError, match=f"mel column {bad} "):
            audio_windows.cut_windows(mel, [0, bad])


@pytest.mark.parametrize("total", [5, 16, 100])
def test_output_windows_clamp_starts_and_pad_a_short_mel(total):
    mel = _columns(total)
    for fps in FPS_CASES:
        for offset in (-1, 0):
            count = 40
            windows = audio_windows.output_windows(mel, count, fps, offset)
            assert windows.shape == (count, 80, 16) and windows.dtype == np.float32
            padded = np.pad(mel, ((0, 0), (0, max(0, 16 - total))), constant_values=mel.min())
            for j in range(count):
                start = min(max(int(80.0 * ((j + offset) / float(fps))), 0), padded.shape[1] - 16)
                np.testing.assert_array_equal(windows[j], padded[:, start:start + 16])
            in_graph = audio_windows.tf_output_windows(tf.constant(mel), tf.constant(count), tf.constant(fps, tf.float64),
                                                       offset).numpy()
            np.testing.assert_array_equal(in_graph, windows)


def test_fits_masks_tensors_as_arrays():
    starts = np.array([-1, 0, 84, 85])
    assert audio_windows.fits(starts, 100).tolist() == [False, True, True, False]
    assert audio_windows.fits(tf.constant(starts), 100).numpy().tolist() == [False, True, True, False]
