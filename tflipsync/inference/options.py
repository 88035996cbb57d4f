"""The options of a lip-sync job (`sync`, `sticker`) and the checks made before any heavy import."""

import dataclasses
import os

from tflipsync.errors import InputError, require_file
from tflipsync.faces.people import WORDS as WHO_WORDS

SILENCE_MODES = ("original", "closed", "off")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv")


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything a lip-sync job needs; the command-line flags map one to one."""
    face: str
    audio: str
    out: str
    engine: str = "auto"  # AUTO: resolve_engine picks one
    weights: str = None
    width: float = None
    pads: tuple = (0, 0, 0, 0)  # extra pixels top, bottom, left, right around the padded face box
    box: tuple = None  # fixed face box top, bottom, left, right (skips detection)
    resize_factor: int = 1
    crop: tuple = (0, -1, 0, -1)
    rotate: bool = False
    nosmooth: bool = False
    static: bool = False
    fps: float = 25.0
    batch_size: int = 16
    window_offset: int = -1
    silence: str = "original"
    silence_db: float = 40.0
    feather: float = 0.12
    colour_match: bool = True
    progress: bool = True
    sketch: str = None  # the landmark and edge sketch video (--engine landmarks)
    who: str = None  # whose face to redraw: largest, center, left, right, all or a face number (parse_who)


AUTO = "auto"


def resolve_engine(options):
    """Options with `engine` "auto" replaced by the engine to run (others are returned as they are).

    With --sketch, an articulation model (.npz) or a mouth.tflite (a .tflite with the "mouth"
    signature, `tflipsync export app`) as --weights: landmarks; with another .tflite: tflite (a
    generator .tflite); with other --weights: keras (generator weights, e.g. converted official
    ones, stay with the generator); with --who all: keras (only a crop engine redraws several
    faces); otherwise the embedded models' best engine on the held-out real clips, the
    "default_engine" of tflipsync/weights/model.json (docs/real_faces.md).
    """
    if options.engine != AUTO:
        return options
    weights = str(options.weights or "").lower()
    mouth_file = False
    if weights.endswith(".tflite"):
        from tflipsync.landmarks.predictor import is_mouth_file

        mouth_file = is_mouth_file(options.weights)
    if options.sketch or weights.endswith(".npz") or mouth_file:
        engine = "landmarks"  # the sketch draws predicted landmarks; .npz and mouth.tflite predict mouths
    elif weights.endswith(".tflite"):
        engine = "tflite"
    elif options.weights or parse_who(options.who) == "all":
        engine = "keras"
    else:
        from tflipsync.weights import bundled

        engine = bundled.manifest().get("default_engine", "keras")
    return dataclasses.replace(options, engine=engine)


def check_options(options):
    """Refuses option values no job can run with (InputError naming the flag)."""
    from tflipsync.inference.engines import ENGINES

    if options.engine not in ENGINES:
        raise InputError("--engine", f"{options.engine!r} is not an engine; use one of {sorted(ENGINES)}")
    if options.silence not in SILENCE_MODES:
        raise InputError("--silence", f"must be one of {SILENCE_MODES}")
    if options.batch_size < 1:
        raise InputError("--batch_size", "must be at least 1")
    if options.sketch and options.engine != "landmarks":
        raise InputError("--sketch", "needs --engine landmarks (the generator engines predict no landmarks)")
    if options.fps <= 0:
        raise InputError("--fps", f"must be positive, got {options.fps}")
    who = parse_who(options.who)
    if who is not None and options.box is not None:
        raise InputError("--who", "chooses among the faces the detector finds; --box fixes the face instead")
    if who == "all" and options.engine == "landmarks":
        raise InputError("--who", "all needs a crop engine (keras, tflite, savedmodel); landmarks follows one face")


def parse_who(who):
    """--who as None (the main face of each shot), a word of WHO_WORDS or a face number (int >= 1).

    Raises:
      InputError: naming --who, for anything else.
    """
    if who is None or isinstance(who, int) and not isinstance(who, bool) and who >= 1:
        return who
    text = str(who).strip().lower()
    if text in WHO_WORDS:
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise InputError("--who", f"{who!r} is not one of {', '.join(WHO_WORDS)} or a face number (1, 2, ... from the "
                              "left, as `tflipsync faces` numbers them)")


def check_paths(options, extensions=VIDEO_EXTENSIONS):
    """Refuses a missing input, or an output that is an input, of another type, or in a missing or
    read-only folder."""
    from tflipsync.media import encode

    # the inputs are checked here, before any network or media library is loaded, so a typo answers at once
    require_file(options.audio, "an audio or video file")
    require_file(options.face, "a photo or a video")
    paths = [options.face, options.audio] + ([options.weights] if options.weights else [])
    for target, kinds in [(options.out, extensions)] + ([(options.sketch, VIDEO_EXTENSIONS)]
                                                        if options.sketch else []):
        out = os.path.abspath(target)
        for path in paths:
            if os.path.abspath(path) == out or (os.path.exists(path) and os.path.exists(out)
                                                and os.path.samefile(path, out)):
                raise InputError(target, "the output path is one of the inputs; refusing to overwrite it")
        if os.path.splitext(out)[1].lower() not in kinds:
            raise InputError(target, f"the output must be a {', '.join(kinds)} file")
        encode.check_writable(target)
        paths.append(target)  # the sketch may not overwrite the output either


def parse_ints(name, values, count):
    """`count` integers from a list flag's strings, or InputError naming --`name`."""
    try:
        out = tuple(int(v) for v in values)
    except ValueError:
        out = ()
    if len(out) != count:
        raise InputError(f"--{name}", f"expected {count} integers separated by commas")
    return out
