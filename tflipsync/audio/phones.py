"""Phones of speech, with their times: pocketsphinx's English acoustic model in phone-loop mode.

The articulation model (tflipsync/landmarks/articulation.py) reads what is said, not only how
loud: a /m/ or /p/ closes the lips while the sound goes on, rounded vowels narrow the mouth.
pocketsphinx (a PyPI package; its wheel carries the US-English acoustic model and a phone
language model, so nothing is downloaded) decodes the audio as a sequence of phones, each with a
start and end 10 ms frame, without words (`allphone` search). Other languages are decoded with
English phones, less well.

`phone_track` gives, per 10 ms frame, a one-hot row over PHONES (noise and unknown-speech tokens
count as silence); `frame_phones` its mean over each video frame's period.
"""

import os

import numpy as np

from tflipsync.audio import frames
from tflipsync.conventions import SAMPLE_RATE

# The 39 phones of the CMU dictionary, and silence.
PHONES = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH",
          "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "SIL", "T", "TH", "UH",
          "UW", "V", "W", "Y", "Z", "ZH")
SILENCE = PHONES.index("SIL")
RATE = 100.0  # pocketsphinx frames per second
# decoder settings: language weight, phone insertion penalty, beams (wide: the search is small)
SETTINGS = {"lw": 2.0, "pip": 0.3, "beam": 1e-20, "pbeam": 1e-20}
QUIET_DB = 50.0  # rows this far below the loudest are silence
QUIET_RMS = 3e-4  # and rows below this RMS (about -70 dBFS) always are


class PhoneDecoder:
    """One pocketsphinx phone-loop decoder (made once: loading the model takes about 0.3 s)."""

    def __init__(self):
        from pocketsphinx import Decoder, get_model_path

        model = os.path.join(get_model_path(), "en-us")
        self._decoder = Decoder(hmm=os.path.join(model, "en-us"), allphone=os.path.join(model, "en-us-phone.lm.bin"),
                                loglevel="FATAL", **SETTINGS)

    def segments(self, wav16k):
        """[(phone, first frame, last frame)] of 16 kHz float audio, frames of 10 ms, in time order."""
        pcm = (np.clip(np.asarray(wav16k, np.float64), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        return [(s.word, int(s.start_frame), int(s.end_frame)) for s in self._decoder.seg()]


def track(segments, rows):
    """float32 (rows, len(PHONES)) one-hot rows at RATE from `segments`; uncovered rows are silence."""
    out = np.zeros((rows, len(PHONES)), np.float32)
    out[:, SILENCE] = 1.0
    index = {p: i for i, p in enumerate(PHONES)}
    for phone, first, last in segments:
        first, last = max(0, first), min(rows - 1, last)
        if last < first:
            continue
        out[first:last + 1] = 0.0
        out[first:last + 1, index.get(phone, SILENCE)] = 1.0
    return out


def quiet_rows(wav16k, rows, floor_db=QUIET_DB):
    """bool (rows,): 10 ms rows whose RMS is below `floor_db` under the loudest row's, or below
    digital near-silence (QUIET_RMS). The decoder hears phones in silence; these rows are silence."""
    hop = int(SAMPLE_RATE / RATE)
    wav = np.asarray(wav16k, np.float64)
    padded = np.pad(wav, (hop // 2, rows * hop))
    power = (padded[:rows * hop].reshape(rows, hop) ** 2).mean(axis=1)
    rms = np.sqrt(power)
    loudest = rms.max() if len(rms) else 0.0
    return rms < max(QUIET_RMS, loudest * 10 ** (-floor_db / 20))


def phone_track(wav16k, decoder=None):
    """The phones of 16 kHz audio at RATE rows per second: float32 (1 + len // 160, len(PHONES));
    quiet rows (`quiet_rows`) are silence whatever the decoder says."""
    decoder = decoder or PhoneDecoder()
    rows = 1 + len(wav16k) // int(SAMPLE_RATE / RATE)
    out = track(decoder.segments(wav16k), rows)
    quiet = quiet_rows(wav16k, rows)
    out[quiet] = 0.0
    out[quiet, SILENCE] = 1.0
    return out


def frame_phones(wav16k, fps, count, decoder=None):
    """Each video frame's share of every phone over its period: float64 (count, len(PHONES))."""
    return frames.frame_means(phone_track(wav16k, decoder), RATE, fps, count)
