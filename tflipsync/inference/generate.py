"""`tflipsync generate`: runs the generator on one face and a speech file, frame by frame.

This is the network-level job (no paste-back): the face crop is the reference and the masked
target for every video frame, and a contact sheet of the generated faces is written. The face is
the `--box` region or, without it, the main face the detector finds, padded and cropped as `sync`
crops it (tflipsync/faces). There is one frame per 1 / fps of audio, and frame j gets the mel
window starting at frame j - 1, the training convention `sync` uses (`audio.windows`).

Until the window cutter was made one, `generate` used the original inference script's windows
(starting at frame j, the last one moved back to the end of the audio), so its faces differ from
those of earlier versions: each is now driven by audio one frame earlier.
"""

import os
import time

import numpy as np

from tflipsync.audio import io as audio_io, mel as audio_mel, windows as audio_windows
from tflipsync.faces import crop as faces_crop
from tflipsync.inference.options import parse_who
from tflipsync.media import images
from tflipsync.errors import InputError, require_file
from tflipsync.conventions import MEL_STEPS, SAMPLE_RATE


def generate_faces(face_crop, mel_windows, model, batch_size=32, progress=True):
    """Generates one face per mel window with the reference and masked target set to `face_crop`.

    Args:
      face_crop: (96, 96, 3) BGR in [0, 1].
      mel_windows: (N, 80, 16) normalised mel windows.
      model: a generator.
      batch_size: frames per call.
      progress: show a progress bar.

    Returns:
      (N, 96, 96, 3) BGR in [0, 1], float32.
    """
    import tensorflow as tf
    from tqdm import tqdm

    face = images.masked_face_input(face_crop, face_crop)
    predict = tf.function(lambda m, f: model([m, f], training=False), reduce_retracing=True)
    outputs = []
    with tqdm(total=len(mel_windows), unit="frame", disable=not progress, desc="generate") as bar:
        for start in range(0, len(mel_windows), batch_size):
            mel = mel_windows[start:start + batch_size, :, :, None]  # (b, 80, 16) -> (b, 80, 16, 1)
            faces = np.broadcast_to(face, (len(mel),) + face.shape)
            outputs.append(predict(tf.constant(mel, tf.float32), tf.constant(faces)).numpy())
            bar.update(len(mel))
    return np.concatenate(outputs, axis=0)


def face_input(image_path, box=None, who=None):
    """The face of an image as the generator takes it, cut as `sync` cuts faces.

    Args:
      image_path: PNG, JPEG, BMP or GIF file.
      box: (top, bottom, left, right) pixels, or None to find the main face with the detector
        (padded by `faces.crop.pad_box`, as `sync` pads it).
      who: None for the main face, or which face the detector's is (`--who`, not "all").

    Returns:
      (96, 96, 3) BGR in [0, 1], float32.

    Raises:
      InputError: the box is not inside the image, or no face is found in it.
    """
    rgb = images.read_image(image_path)
    if box is not None:
        return faces_crop.face_input(rgb, faces_crop.flag_box(box, rgb.shape[:2]))
    from tflipsync.faces import detect, track

    with detect.FaceDetector() as detector:
        face = track.main_face([rgb], detector, who=who)
    if not face.present[0]:
        raise InputError(image_path, "no face found (give its box with --box top,bottom,left,right)")
    return faces_crop.face_input(rgb, faces_crop.pad_box(face.boxes[0], rgb.shape[:2]))


def run_generate(face, audio_path, out, box=None, fps=25.0, weights=None, width=None,
                 batch_size=32, columns=10, max_frames=50, progress=True, who=None):
    """Runs the whole job and returns a summary dict; see the module docstring.

    Without `weights` the embedded default model is used (tflipsync/weights/bundled.py); `width` is the
    width `weights` were made for (default 1.0, the official checkpoints' width).
    """
    if fps <= 0:
        raise InputError("--fps", f"must be positive, got {fps}")
    who = parse_who(who)
    if who == "all":
        raise InputError("--who", "generate draws one face: give largest, center, left, right or a face number")
    if who is not None and box is not None:
        raise InputError("--who", "chooses among the faces the detector finds; --box fixes the face instead")
    for path in (face, audio_path) + ((weights,) if weights else ()):
        if os.path.abspath(out) == os.path.abspath(path):
            raise InputError(out, "the output path is one of the inputs")
    # Missing inputs are refused before TensorFlow or MediaPipe load.
    require_file(face, "an image file")
    require_file(audio_path, "an audio or video file")
    wav = audio_io.load_wav(audio_path, SAMPLE_RATE)
    mel = audio_mel.melspectrogram(wav)
    if mel.shape[1] < MEL_STEPS:
        raise InputError(audio_path, "too short: at least 0.2 s of audio is needed")
    crop = face_input(face, box, who)
    count = max(1, int(round(len(wav) / SAMPLE_RATE * fps)))  # as long as the audio, as `sync`
    windows = audio_windows.output_windows(mel, count, fps, offset=-1)

    from tflipsync.weights import bundled

    model, described = bundled.generator(weights, width)
    started = time.perf_counter()
    generated = generate_faces(crop, windows, model, batch_size, progress)
    seconds = time.perf_counter() - started

    shown = generated[:max_frames]
    sheet = images.contact_sheet(
        np.concatenate([images.to_uint8_rgb(crop)[None], images.to_uint8_rgb(shown)]), columns)
    images.write_png(out, sheet)
    return {
        "audio_seconds": len(wav) / SAMPLE_RATE,
        "mel_shape": mel.shape,
        "frames": len(windows),
        "fps": fps,
        "frames_per_second": len(windows) / seconds,
        "weights": described,
        "out": out,
    }


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    flags.DEFINE_string("face", None, "Face image (PNG or JPEG).", **fv)
    flags.DEFINE_string("audio", None, "Speech: any audio file or the audio track of a video.", **fv)
    flags.DEFINE_string("out", None, "Contact sheet to write (PNG): the input crop, then generated frames.", **fv)
    flags.DEFINE_list("box", None, "Face box in the image: top,bottom,left,right (default: the main face the "
                      "detector finds, cropped as `sync` crops it).", **fv)
    flags.DEFINE_string("who", None, "Which face the detector finds to use: largest, center, left, right or N, "
                        "its number from the left as `tflipsync faces` draws it (default: the main face).", **fv)
    flags.DEFINE_float("fps", 25.0, "Video frame rate the mel windows are cut for.", **fv)
    flags.DEFINE_string("weights", None, "Generator .weights.h5 (e.g. from `tflipsync convert`); "
                        "default: the embedded model trained on the synthetic corpus.", **fv)
    flags.DEFINE_float("width", None, "Generator width --weights were made for (default 1.0).", **fv)
    flags.DEFINE_integer("batch_size", 32, "Frames per generator call.", lower_bound=1, **fv)
    flags.DEFINE_integer("max_frames", 50, "Frames shown on the contact sheet.", lower_bound=1, **fv)
    for name in ("face", "audio", "out"):
        flags.mark_flag_as_required(name, flag_values=flag_values)


def run(flag_values):
    box = None
    if flag_values.box:
        try:
            box = tuple(int(v) for v in flag_values.box)
        except ValueError:
            box = ()
        if len(box) != 4:
            raise InputError("--box", "expected four integers: top,bottom,left,right")
    summary = run_generate(flag_values.face, flag_values.audio, flag_values.out, box, flag_values.fps,
                           flag_values.weights, flag_values.width, flag_values.batch_size, max_frames=flag_values.max_frames,
                           who=flag_values.who)
    print(f"{summary['audio_seconds']:.2f} s of audio -> mel {summary['mel_shape']} -> "
          f"{summary['frames']} frames at {summary['fps']:g} fps, generated at "
          f"{summary['frames_per_second']:.1f} frames/s")
    print(f"weights: {summary['weights']}")
    print(f"wrote {summary['out']} (input crop, then the first generated faces)")
