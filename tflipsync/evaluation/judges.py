"""The expert that judges sync, split into its two encoders: Keras weights or a converted .tflite."""

import os

import numpy as np

from tflipsync.errors import InputError


class ExpertEmbedder:
    """The lip-sync expert split into its two encoders, with fixed batch shapes.

    A converted sync model can stand in for it with the same two methods.
    """

    def __init__(self, weights=None, width=None, batch_size=16):
        import keras

        from tflipsync.weights import bundled

        if weights:
            expert, self.description = bundled.network("expert", weights, width)
        else:
            expert = bundled.load("expert")
            self.description = f"embedded expert (width {bundled.width():g})"
        self.batch_size = batch_size
        self._audio = keras.Model(expert.inputs[0], expert.outputs[0])
        self._face = keras.Model(expert.inputs[1], expert.outputs[1])

    def _run(self, model, x):
        out = []
        for first in range(0, len(x), self.batch_size):
            batch = x[first:first + self.batch_size]
            pad = self.batch_size - len(batch)
            padded = np.pad(batch, [(0, pad)] + [(0, 0)] * (batch.ndim - 1))
            out.append(np.asarray(model(padded, training=False))[:len(batch)])
        return np.concatenate(out)

    def embed_audio(self, mel):
        """(B, 80, 16) mel windows -> (B, C) L2-normalised embeddings."""
        return self._run(self._audio, np.asarray(mel, np.float32)[..., None])

    def embed_face(self, face):
        """(B, 48, 96, 15) lower-half windows -> (B, C) L2-normalised embeddings."""
        return self._run(self._face, np.asarray(face, np.float32))


class TFLiteExpertEmbedder:
    """A converted expert (`tflipsync export tflite --model expert`, its "embed" signature) in the
    ExpertEmbedder's place: any mode, any fixed batch.

    The signature computes both embeddings from one call; each method feeds zeros to the other
    input and keeps its own output (the two encoders do not interact).
    """

    def __init__(self, path, threads=None):
        from tflipsync.deploy import runtime

        with open(path, "rb") as f:
            content = f.read()
        try:
            self._runner = runtime.interpreter(content, threads or os.cpu_count() or 1).get_signature_runner("embed")
        except ValueError as err:
            raise InputError(path, f"not an expert .tflite with an 'embed' signature: "
                                   f"{str(err).splitlines()[0]}") from None
        details = self._runner.get_input_details()
        self._shapes = {name: tuple(int(d) for d in details[name]["shape"]) for name in ("mel", "face")}
        self.batch_size = self._shapes["mel"][0]
        self.description = f"{path} (TFLite)"

    def _run(self, name, x, output):
        other = "face" if name == "mel" else "mel"
        zeros = np.zeros(self._shapes[other], np.float32)
        out = []
        for first in range(0, len(x), self.batch_size):
            batch = x[first:first + self.batch_size]
            padded = np.pad(batch, [(0, self.batch_size - len(batch))] + [(0, 0)] * (batch.ndim - 1))
            result = self._runner(**{name: padded.astype(np.float32), other: zeros})
            out.append(result[output][:len(batch)])
        return np.concatenate(out)

    def embed_audio(self, mel):
        return self._run("mel", np.asarray(mel, np.float32)[..., None], "audio_embedding")

    def embed_face(self, face):
        return self._run("face", np.asarray(face, np.float32), "face_embedding")


def sync_judge(weights=None, width=None, batch_size=16):
    """The expert that judges sync: Keras (.weights.h5 or the embedded one) or a converted .tflite."""
    if weights and weights.endswith(".tflite"):
        if width is not None:
            raise InputError("--expert_width", "a .tflite file has its width built in; leave --expert_width out")
        return TFLiteExpertEmbedder(weights)
    return ExpertEmbedder(weights, width, batch_size)
