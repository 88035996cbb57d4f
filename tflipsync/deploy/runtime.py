"""Running the exported networks: the .tflite interpreter (what the inference engines use) and the
Keras fp32 reference the exports are measured against."""

import contextlib
import importlib.util
import warnings

import numpy as np

from tflipsync.deploy.signatures import SIGNATURE


@contextlib.contextmanager
def quiet_warnings():
    """The converter and the deprecated tf.lite interpreter warn on every call; ours say what matters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def default_runtime():
    """The runtime .tflite files run on when none is named: "tf" where TensorFlow is installed (on
    x86 its tf.lite.Interpreter measured faster than LiteRT 2.3 on this project's generator,
    docs/deployment.md), else "litert" (the lite install, `pip install tflipsync` without [train])."""
    return "tf" if importlib.util.find_spec("tensorflow") is not None else "litert"


def interpreter(content, threads=2, runtime=None):
    """A .tflite interpreter: runtime "tf" (tf.lite.Interpreter), "litert" (ai-edge-litert) or None
    (`default_runtime()`)."""
    runtime = runtime or default_runtime()
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter
    elif runtime == "tf":
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    else:
        raise ValueError(f"runtime must be 'tf' or 'litert', got {runtime!r}")
    with quiet_warnings():
        return Interpreter(model_content=content, num_threads=threads)


def signature_batch(runner):
    """The fixed batch size of a signature runner's "mel" input."""
    return int(runner.get_input_details()["mel"]["shape"][0])


def run_tflite(content, kind, samples, threads=2, runtime=None):
    """Outputs of a .tflite's main signature on `samples` (any count; padded to its batch).

    Returns:
      a list of arrays: [image] for the generator, [audio_embedding, face_embedding] for the expert.
    """
    runner = interpreter(content, threads, runtime).get_signature_runner(SIGNATURE[kind])
    batch = signature_batch(runner)
    count = len(samples["mel"])
    outputs = []
    for start in range(0, count, batch):
        mel, face = samples["mel"][start:start + batch], samples["face"][start:start + batch]
        pad = batch - len(mel)
        result = runner(mel=np.pad(mel, [(0, pad)] + [(0, 0)] * 3).astype(np.float32),
                        face=np.pad(face, [(0, pad)] + [(0, 0)] * 3).astype(np.float32))
        outputs.append([result[k][:len(mel)] for k in sorted(result)])
    return [np.concatenate(parts) for parts in zip(*outputs)]


def run_keras(model, kind, samples, batch=32):
    """Keras fp32 outputs on `samples`: the image (generator) or [audio, face] embeddings (expert)."""
    outputs = []
    for start in range(0, len(samples["mel"]), batch):
        result = model([samples["mel"][start:start + batch], samples["face"][start:start + batch]], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        outputs.append([np.asarray(r) for r in result])
    joined = [np.concatenate(parts) for parts in zip(*outputs)]
    return joined[0] if kind == "generator" else joined
