"""The exported networks' calling convention: signature names, input shapes, and the tf.Module
whose tf.functions the .tflite files are converted from.

Signatures: the generator's "generate" (mel (B, 80, 16, 1), face (B, 96, 96, 6) -> image
(B, 96, 96, 3), BGR in [0, 1]) and, in float files, "audio_to_mel" (pcm (N,) 16 kHz -> mel
(80, 1 + N // 200), `audio.mel.tf_melspectrogram`); the expert's "embed" (mel, face
(B, 48, 96, 15) -> audio_embedding, face_embedding). Inputs and outputs are float32 in every mode.
"""

KINDS = ("generator", "expert")
SIGNATURE = {"generator": "generate", "expert": "embed"}
PCM_SAMPLES = 16000  # the audio_to_mel signature's fixed input: one second


def input_shapes(kind, batch):
    """{input name: shape} of `kind`'s main signature at batch size `batch`."""
    face = (96, 96, 6) if kind == "generator" else (48, 96, 15)
    return {"mel": (batch, 80, 16, 1), "face": (batch,) + face}


def export_module(kind, model, batch, audio_to_mel):
    """The tf.Module to convert and its signatures.

    Args:
      kind: "generator" or "expert".
      model: the Keras network; its folded inference graph (`deploy.graph`) is what is exported.
      batch: the fixed batch size of the main signature.
      audio_to_mel: add the generator's "audio_to_mel" signature.

    Returns:
      (module, {signature name: tf.function}).
    """
    import tensorflow as tf

    from tflipsync.audio import mel as audio_mel
    from tflipsync.deploy import graph

    run = graph.inference_function(model)
    shapes = input_shapes(kind, batch)
    specs = [tf.TensorSpec(shapes[name], tf.float32, name=name) for name in ("mel", "face")]
    module = tf.Module()
    if kind == "generator":
        module.generate = tf.function(lambda mel, face: {"image": run(mel, face)}, input_signature=specs)
    else:
        def embed(mel, face):
            audio_embedding, face_embedding = run(mel, face)
            return {"audio_embedding": audio_embedding, "face_embedding": face_embedding}
        module.embed = tf.function(embed, input_signature=specs)
    signatures = {SIGNATURE[kind]: getattr(module, SIGNATURE[kind])}
    if audio_to_mel:
        module.audio_to_mel = tf.function(lambda pcm: {"mel": audio_mel.tf_melspectrogram(pcm)},
                                          input_signature=[tf.TensorSpec([PCM_SAMPLES], tf.float32, name="pcm")])
        signatures["audio_to_mel"] = module.audio_to_mel
    return module, signatures
