"""The synthetic corpus's speech: espeak-ng voices, word lists and one clip's audio.

Every speaker has a language, a voice variant, a pitch, a rate and a word gap drawn from the
corpus seed and the speaker's number only; a clip's words, pauses and level come from the seed
and the clip's number. Nothing here depends on the picture (synth.py, synth_face.py).
"""

import os
import shutil
import subprocess
import tempfile
import wave

import numpy as np

from tflipsync.audio import io as audio_io
from tflipsync.conventions import SAMPLE_RATE
from tflipsync.errors import InputError

PEAK = 0.5  # peak level of the speech before the noise floor is added
# Independent random streams of the corpus: np.random.default_rng([seed, STREAM, speaker or clip]).
VOICE_STREAM, IDENTITY_STREAM, SCENE_STREAM, SPEECH_STREAM, SPLIT_STREAM = range(5)

ENGLISH_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
                  "en-gb-x-gbclan", "en-gb-x-gbcwmd")
VARIANTS = ("",) + tuple(f"+m{i}" for i in range(1, 8)) + tuple(f"+f{i}" for i in range(1, 5))
WORDS = {
    "en": """about above after again ahead almost always answer apple around autumn baby back ball
        banana beach bird blue boat book bottle bread bridge bright brother buy call calm carry
        cheese child city clock cloud coffee cold cool corner dance dark dinner doctor door dream
        early earth easy evening every face family far father feel field fire fish floor flower
        follow food forest four friend garden girl glass go good green happy heavy help home hope
        house idea island jump keep kitchen know lake laugh leave light little look loud love
        machine market maybe meet milk moon morning mother mountain music never new night north
        now ocean old open orange over paper people pepper piano picture place please pool quick
        quiet rain read river road room rope round school sea see seven shoe should silver sing
        sister sleep slow small smile snow soft soon south speak spring street strong summer sun
        table talk teacher thank three today tomorrow train tree two under up voice wait walk warm
        water wave week white why wide window winter wood world yellow yes you zoo""".split(),
    "de": """aber alles Apfel Baum bitte Blume Brot danke draussen Freund gestern gut Haus heute
        hier immer jetzt Kaffee Katze klein langsam Licht Mond Morgen Musik nein oben offen Regen
        rund schnell schon Sonne Stadt Strasse Tisch Wasser Wetter wieder Zimmer zusammen""".split(),
    "fr-fr": """ami arbre aujourd'hui beau bleu bonjour chanson chat demain doucement eau ecole
        enfant fenetre fleur fromage gare grand heureux jardin jour lait lune maison matin merci
        monde nuit oiseau ouvert pain petit plage pluie porte rouge soleil toujours vent ville""".split(),
    "es": """agua amigo arbol azul bueno calle casa cielo ciudad comida despacio dia escuela feliz
        flor gato grande hermano hoy jardin leche libro luna madre manana mar mesa musica noche
        nuevo ojo padre pan playa puerta rapido rojo siempre sol tiempo ventana verde""".split(),
    "it": """acqua albero amico azzurro bello buongiorno casa cielo citta domani dolce estate
        felice finestra fiore gatto giardino giorno grande latte libro luna madre mare mattina
        musica notte nuovo pane piccolo porta presto rosso scuola sempre sole strada tavolo""".split(),
}
LANGUAGE_WEIGHTS = {"en": 0.72, "de": 0.07, "fr-fr": 0.07, "es": 0.07, "it": 0.07}


def espeak_path():
    """The espeak-ng program's path; InputError when it is not installed."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise InputError("espeak-ng", "not installed: the synthetic corpus needs it "
                         "(Debian/Ubuntu: apt-get install espeak-ng)")
    return path


def speak(text, voice, rate, pitch, word_gap=0):
    """Speech from espeak-ng, resampled to 16 kHz mono.

    Args:
        text: what to say.
        voice: espeak-ng voice with an optional variant, e.g. "en-us+f2".
        rate: words per minute.
        pitch: 0 to 99.
        word_gap: extra pause between words, in units of 10 ms.

    Returns:
        float32 (N,) samples at espeak-ng's own level.

    Raises:
        InputError: espeak-ng is missing or fails.
    """
    with tempfile.TemporaryDirectory(prefix="tflipsync-synth-") as scratch:
        path = os.path.join(scratch, "speech.wav")
        command = [espeak_path(), "-v", voice, "-s", str(rate), "-p", str(pitch), "-g", str(word_gap),
                   "-w", path, "--", text]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not os.path.exists(path):
            raise InputError("espeak-ng", f"failed for voice {voice}: {result.stderr.strip()}")
        with wave.open(path, "rb") as f:
            rate_hz, width, channels = f.getframerate(), f.getsampwidth(), f.getnchannels()
            pcm = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)
    if width != 2:
        raise InputError("espeak-ng", f"unexpected {8 * width}-bit wav output")
    samples = pcm.reshape(-1, channels).mean(axis=1, dtype=np.float64) / 32768.0
    return audio_io.resample(samples, rate_hz, SAMPLE_RATE)


def speaker_voice(seed, speaker):
    """(language, voice, pitch, rate, word_gap) of a speaker, from (seed, speaker) only."""
    rng = np.random.default_rng([seed, VOICE_STREAM, speaker])
    languages = list(LANGUAGE_WEIGHTS)
    language = languages[rng.choice(len(languages), p=list(LANGUAGE_WEIGHTS.values()))]
    base = ENGLISH_VOICES[rng.integers(len(ENGLISH_VOICES))] if language == "en" else language
    voice = base + VARIANTS[rng.integers(len(VARIANTS))]
    return language, voice, int(rng.integers(30, 71)), int(rng.integers(120, 201)), int(rng.integers(0, 6))


def clip_audio(seed, index, speaker, min_seconds=2.0, max_seconds=6.0):
    """Speech of one clip, padded with silence: (float32 16 kHz samples, settings dict)."""
    language, voice, pitch, rate, word_gap = speaker_voice(seed, speaker)
    rng = np.random.default_rng([seed, SPEECH_STREAM, index])
    pitch = int(np.clip(pitch + rng.integers(-5, 6), 30, 70))
    rate = int(np.clip(rate + rng.integers(-10, 11), 120, 200))
    words = WORDS[language]
    drawn = [words[i] for i in rng.integers(len(words), size=64)]
    comma = int(rng.integers(2, 6)) if rng.random() < 0.3 else -1
    lead, tail = rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.5)
    target = rng.uniform(min_seconds, max_seconds)
    noise = rng.standard_normal(int(max_seconds * SAMPLE_RATE) + SAMPLE_RATE) * 10 ** (-70 / 20)
    count = max(2, round(max(0.5, target - lead - tail) * rate / 60.0))
    for _ in range(6):
        chosen = list(drawn[:count])
        if 0 < comma < count - 1:
            chosen[comma] += ","
        text = " ".join(chosen)
        text = text[0].upper() + text[1:] + "."
        speech = speak(text, voice, rate, pitch, word_gap)
        seconds = len(speech) / SAMPLE_RATE + lead + tail
        if seconds <= max_seconds or count <= 2:
            break
        count = max(2, min(count - 1, int(count * (max_seconds - lead - tail) * SAMPLE_RATE / len(speech))))
    speech *= PEAK / max(float(np.abs(speech).max()), 1e-6)
    wav = np.concatenate([np.zeros(int(lead * SAMPLE_RATE)), speech, np.zeros(int(tail * SAMPLE_RATE))])
    wav = np.pad(wav, (0, max(0, int(min_seconds * SAMPLE_RATE) - len(wav))))
    wav = wav[:int(max_seconds * SAMPLE_RATE)]
    wav = wav + noise[:len(wav)]
    settings = {"voice": voice, "rate": str(rate), "pitch": str(pitch), "word_gap": str(word_gap),
                "text": text}
    return wav.astype(np.float32), settings
