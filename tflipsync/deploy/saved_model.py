"""The generator as a TF-Serving SavedModel: `<base>/<name>/<version>/`, tag `serve`.

Signatures (batch dimension free; normalisation and masking inside the graph, so clients send
plain pixels):

  serving_default(face uint8 (B, 96, 96, 3) RGB, the frame's face crop;
                  reference uint8 (B, 96, 96, 3) RGB, the identity reference (the same crop for
                  the fixed-reference protocol);
                  mel float32 (B, 80, 16), normalised mel windows, `tflipsync.audio.windows`)
      -> image uint8 (B, 96, 96, 3) RGB, the crop with a new lower half.
  from_pcm(pcm float32 (N,), 16 kHz mono in [-1, 1], N > 400, starting at the batch's first frame;
           face, reference as above; fps float32 ())
      -> image uint8 (B, 96, 96, 3): frame k gets the mel window starting at
         int(80 (k - 1) / fps), clamped to the spectrogram (the training convention, as `sync`).
"""

import os
import shutil

import numpy as np
import tensorflow as tf

from tflipsync import files
from tflipsync.audio import mel as audio_mel, windows as audio_windows
from tflipsync.errors import InputError

FACE = tf.TensorSpec([None, 96, 96, 3], tf.uint8)


def _to_unit_bgr(rgb):
    return tf.reverse(tf.cast(rgb, tf.float32) / 255.0, axis=[-1])


class ServingModule(tf.Module):
    """The tf.Module exported; it tracks the generator's variables."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator
        keep = np.ones([96, 1, 1], np.float32)
        keep[48:] = 0.0  # rows 48..95 of the target are what the generator paints
        self._keep_upper = tf.constant(keep)

    def _generate(self, face, reference, mel):
        target = _to_unit_bgr(face) * self._keep_upper
        inputs = tf.concat([target, _to_unit_bgr(reference)], axis=-1)  # (B, 96, 96, 6)
        image = self.generator([mel[..., tf.newaxis], inputs], training=False)
        return {"image": tf.cast(tf.round(tf.clip_by_value(tf.reverse(image, axis=[-1]), 0.0, 1.0) * 255.0),
                                 tf.uint8)}

    @tf.function(input_signature=[tf.TensorSpec([None, 96, 96, 3], tf.uint8, name="face"),
                                  tf.TensorSpec([None, 96, 96, 3], tf.uint8, name="reference"),
                                  tf.TensorSpec([None, 80, 16], tf.float32, name="mel")])
    def serve(self, face, reference, mel):
        return self._generate(face, reference, mel)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="pcm"),
                                  tf.TensorSpec([None, 96, 96, 3], tf.uint8, name="face"),
                                  tf.TensorSpec([None, 96, 96, 3], tf.uint8, name="reference"),
                                  tf.TensorSpec([], tf.float32, name="fps")])
    def from_pcm(self, pcm, face, reference, fps):
        mel = audio_mel.tf_melspectrogram(pcm)  # (80, T)
        windows = audio_windows.tf_output_windows(mel, tf.shape(face)[0], fps, offset=-1)  # (B, 80, 16)
        return self._generate(face, reference, windows)


def version_dir(base, name, version):
    return os.path.join(base, name, str(int(version)))


def export(generator, base, name, version, overwrite=False):
    """Writes the SavedModel to <base>/<name>/<version>/ (through a temporary folder) and an
    example models.config beside <name> (`models_config`). Returns the version folder."""
    if int(version) < 1:
        raise InputError("--version", "must be a positive integer (TF-Serving ignores other folder names)")
    target = version_dir(base, name, version)
    if os.path.exists(target) and not overwrite:
        raise InputError(target, "already exists; pick a new --version (TF-Serving hot-loads the highest)")
    os.makedirs(os.path.join(base, name), exist_ok=True)
    module = ServingModule(generator)
    # the folder gets a plain mkdir's mode, so that a server running as another user (a
    # container's) can read it; its temporary name is not a number, which TF-Serving ignores
    with files.atomic_path(target) as temporary:
        tf.saved_model.save(module, temporary,
                            signatures={"serving_default": module.serve, "from_pcm": module.from_pcm})
        if os.path.exists(target):
            shutil.rmtree(target)
    with files.atomic_output(os.path.join(base, "models.config"), "w") as f:
        f.write(models_config(name, os.path.abspath(os.path.join(base, name))))
    return target


def models_config(name, host_path):
    """An example --model_config_file for tensorflow_model_server serving the latest version.

    Its base_path is /models/<name>, the folder the tensorflow/serving image serves (README:
    `docker run -v $PWD/models/tflipsync:/models/tflipsync ...`); a comment in the file gives
    `host_path`, the base_path for a tensorflow_model_server run outside a container.
    """
    return ("# A --model_config_file for tensorflow_model_server. base_path is the model's folder inside\n"
            f"# the tensorflow/serving container (docker run -v {host_path}:/models/{name} ...);\n"
            f"# for a tensorflow_model_server run directly on this machine, set base_path: \"{host_path}\"\n"
            "model_config_list {\n  config {\n"
            f"    name: \"{name}\"\n    base_path: \"/models/{name}\"\n    model_platform: \"tensorflow\"\n"
            "    model_version_policy { latest { num_versions: 1 } }\n  }\n}\n")


def resolve(path):
    """A SavedModel folder from `path`: the folder itself, or the highest integer version under it."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if os.path.isdir(path):
        versions = [d for d in os.listdir(path) if d.isdigit() and
                    os.path.isfile(os.path.join(path, d, "saved_model.pb"))]
        if versions:
            return os.path.join(path, max(versions, key=int))
    raise InputError(path, "not a SavedModel folder (no saved_model.pb in it or in an integer version folder)")
