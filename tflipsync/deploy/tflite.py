"""The generator and the expert as .tflite files with named signatures, fixed shapes, builtin ops only.

Modes:
  fp32   plain conversion (the debugging reference);
  fp16   weights stored as float16 (dequantised once on CPU, native on GPU delegates);
  int8   full integer: every op int8, activation ranges calibrated on real samples;
  mixed  int8 with whole layers kept in float: groups of layers (output block, decoder stages
         from the output back, then encoder stages) are added one at a time, and the first set
         whose output reaches `target_psnr` dB against fp32 on held-out samples is kept (or the
         best seen, when none does): the choice is made by measured error, not by a fixed list.

Input and output tensors stay float32 in every mode (the int8 files quantise at their entry and
dequantise at their exit), so one calling convention serves all four files. The graph converted is
`deploy.graph.inference_function`: batch norm folded and skip concatenations split (see there for
why int8 needs that). Conversion is restricted to TFLite builtin ops; a model that would need
TensorFlow (Flex) ops fails to convert instead of producing a file that phones cannot run.

Signatures: the generator's "generate" (mel (B, 80, 16, 1), face (B, 96, 96, 6) -> image
(B, 96, 96, 3), BGR in [0, 1]) and, in float files, "audio_to_mel" (pcm (N,) 16 kHz -> mel
(80, 1 + N // 200), tflipsync.audio.mel.tf_melspectrogram); the expert's "embed" (mel, face (B, 48, 96, 15) ->
audio_embedding, face_embedding).
"""

import contextlib
import tempfile
import time
import warnings

import numpy as np

from tflipsync.evaluation import metrics

MODES = ("fp32", "fp16", "int8", "mixed")
KINDS = ("generator", "expert")
SIGNATURE = {"generator": "generate", "expert": "embed"}
PCM_SAMPLES = 16000  # the audio_to_mel signature's fixed input: one second


def input_shapes(kind, batch):
    """{input name: shape} of `kind`'s main signature at batch size `batch`."""
    face = (96, 96, 6) if kind == "generator" else (48, 96, 15)
    return {"mel": (batch, 80, 16, 1), "face": (batch,) + face}


def _module(kind, model, batch, audio_to_mel):
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


@contextlib.contextmanager
def _converter(kind, model, batch, audio_to_mel):
    """A TFLiteConverter over a temporary SavedModel of the inference graph."""
    import tensorflow as tf

    module, signatures = _module(kind, model, batch, audio_to_mel)
    with tempfile.TemporaryDirectory(prefix="tflipsync-export-") as folder:
        tf.saved_model.save(module, folder, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=list(signatures))
        yield converter


def _representative(kind, samples, count=None):
    """A representative_dataset callable over `samples` ({"mel", "face"} arrays), one at a time."""
    total = len(samples["mel"]) if count is None else min(count, len(samples["mel"]))

    def dataset():
        for i in range(total):
            yield {"mel": samples["mel"][i:i + 1], "face": samples["face"][i:i + 1]}
    return dataset


OUTLIER_FACTOR = 4.0


def typical_samples(model, samples, factor=OUTLIER_FACTOR, batch=20):
    """The calibration samples without the few that drive the activations far past the rest.

    Full-integer calibration takes each tensor's range from the minimum and maximum over all
    samples, so a few samples whose activations reach several times the others' set ranges that
    leave the typical ones a few int8 steps. On the embedded generator, 200-sample draws from
    the training clips held such samples (peaks 4-10x the median sample's through the whole
    decoder) in 2 of 4 seeds, and those draws gave int8 18 dB against fp32 where the others gave
    28 dB (docs/deployment.md). A sample is dropped when, in any layer, its largest absolute
    activation exceeds `factor` times the median sample's.

    Args:
      model: the Keras network.
      samples: {"mel", "face"} arrays (N, ...).

    Returns:
      (kept samples dict, number dropped).
    """
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    peaks = []  # (N, layers)
    for start in range(0, len(samples["mel"]), batch):
        outputs = probe([samples["mel"][start:start + batch], samples["face"][start:start + batch]], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        peaks.append(np.stack([np.abs(np.asarray(o)).reshape(len(o), -1).max(axis=1) for o in outputs], axis=1))
    peaks = np.concatenate(peaks)
    keep = np.all(peaks <= factor * np.median(peaks, axis=0, keepdims=True), axis=1)
    return {k: v[keep] for k, v in samples.items() if k in ("mel", "face")}, int((~keep).sum())


def _debug_dataset(samples, count=16):
    # the quantisation debugger feeds inputs in the interpreter's order: alphabetical (face, mel)
    def dataset():
        for i in range(min(count, len(samples["mel"]))):
            yield [samples["face"][i:i + 1], samples["mel"][i:i + 1]]
    return dataset


def _configure(converter, kind, mode, calibration):
    import tensorflow as tf

    if mode == "fp32":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    elif mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    else:
        if calibration is None or len(calibration["mel"]) == 0:
            raise ValueError(f"mode {mode} needs calibration samples")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(kind, calibration)
        converter.target_spec.supported_ops = (
            [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] if mode == "int8" else [tf.lite.OpsSet.TFLITE_BUILTINS])


def layer_groups(names):
    """Float-candidate groups for `mixed`, in the order they are tried: the output block, the
    decoder stages from the output back, then encoder stages from the input on.

    Args:
      names: node (output tensor) names of the quantised graph; each carries its Keras layer's name.

    Returns:
      list of (group name, [node names]), groups without nodes left out.
    """
    prefixes = (["output_block"] + [f"face_decoder_blocks_{k}" for k in range(6, -1, -1)]
                + [f"face_encoder_blocks_{k}" for k in range(7)] + ["audio_encoder"])
    groups = []
    for prefix in prefixes:
        nodes = [n for n in names if n.split("/")[0].startswith(prefix + "_")]
        if nodes:
            groups.append((prefix, nodes))
    return groups


def _quantised_node_names(converter, calibration):
    """Node names of the int8 graph, as the QuantizationDebugger's denylist addresses them."""
    import csv
    import io

    import tensorflow as tf

    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter,
                                                         debug_dataset=_debug_dataset(calibration))
    debugger.run()
    text = io.StringIO()
    debugger.layer_statistics_dump(text)
    text.seek(0)
    return [row["tensor_name"] for row in csv.DictReader(text)]


def _floated(converter, calibration, nodes):
    """The mixed file with `nodes` kept in float."""
    import tensorflow as tf

    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
    trial = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=_debug_dataset(calibration), debug_options=options)
    return trial.get_nondebug_quantized_model()


def _prefixed(names, prefixes):
    """The node names whose layer name starts with one of `prefixes` (a group or a single layer)."""
    return [n for n in names if any(n.split("/")[0].startswith(p + "_") for p in prefixes)]


def _mixed_fixed(converter, calibration, float_groups):
    """`mixed` with the float layers given: `layer_groups` names or single layers within them
    (e.g. "face_decoder_blocks_6_0"), such as another width's search chose."""
    names = _quantised_node_names(converter, calibration)
    unknown = [g for g in float_groups if not _prefixed(names, [g])]
    if unknown:
        raise ValueError(f"no layers {unknown} in this network; its groups are "
                         f"{[name for name, _ in layer_groups(names)]}")
    content = _floated(converter, calibration, _prefixed(names, float_groups))
    return content, {"float_groups": list(float_groups), "chosen_by": "given"}


def layer_flops(model, prefix):
    """Multiply-adds x 2 per example of the convolutions whose layer name starts with prefix_."""
    import keras

    total = 0
    for layer in model.layers:
        if not layer.name.startswith(prefix + "_") or not isinstance(
                layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            continue
        transposed = isinstance(layer, keras.layers.Conv2DTranspose)
        _, h, w, _ = (layer.input if transposed else layer.output).shape
        kh, kw = layer.kernel_size
        total += 2 * kh * kw * layer.input.shape[-1] * layer.filters * h * w
    return total


def _single_layers(names, group):
    """The layers of a group (group_<k>), in order, from the node names."""
    layers = []
    for name in names:
        parts = name.split("/")[0][len(group) + 1:].split("_")
        if name.split("/")[0].startswith(group + "_") and parts[0].isdigit():
            layer = f"{group}_{parts[0]}"
            if layer not in layers:
                layers.append(layer)
    return layers


def _mixed(converter, kind, model, calibration, held_out, reference, target_psnr, log):
    """Chooses the float layers for `mixed` by measured PSNR; returns (bytes, info).

    Whole groups are added from the output back until the held-out PSNR reaches the target; then
    the last group added is narrowed to the single layer of it, cheapest first, that still
    reaches the target with the groups before it (keeping less of the network in float).
    """
    names = _quantised_node_names(converter, calibration)
    groups = layer_groups(names)
    chosen, best = [], None
    for count in range(0, len(groups) + 1):
        content = _floated(converter, calibration, [n for _, group in groups[:count] for n in group])
        quality = metrics.pooled_psnr(run_tflite(content, kind, held_out)[0], reference)
        floated = [name for name, _ in groups[:count]]
        log(f"mixed: float {floated or 'nothing'}: {quality:.2f} dB")
        chosen.append((quality, count, content, floated))
        if best is None or quality > best[0] + 0.1:
            best = (quality, count, content, floated)
        if quality >= target_psnr:
            best = chosen[-1]
            break
        if count - best[1] >= 3:  # three more groups without a gain of 0.1 dB: stop
            break
    quality, count, content, floated = best
    if quality >= target_psnr and count > 0:
        before = floated[:-1]
        for layer in sorted(_single_layers(names, floated[-1]), key=lambda name: layer_flops(model, name)):
            trial = _floated(converter, calibration, _prefixed(names, before + [layer]))
            trial_quality = metrics.pooled_psnr(run_tflite(trial, kind, held_out)[0], reference)
            log(f"mixed: float {before + [layer]}: {trial_quality:.2f} dB")
            chosen.append((trial_quality, count, trial, before + [layer]))
            if trial_quality >= target_psnr:
                quality, content, floated = trial_quality, trial, before + [layer]
                break
    return content, {"float_groups": floated, "chosen_by": "measured PSNR",
                     "trials": [(q, f) for q, _, _, f in chosen],
                     "psnr_on_held_out": quality, "target_psnr": target_psnr}


def convert(kind, model, mode, batch=1, calibration=None, held_out=None, target_psnr=30.0,
            audio_to_mel=None, log=print, float_groups=None, outlier_factor=OUTLIER_FACTOR):
    """Converts a generator or expert to .tflite bytes.

    Args:
      kind: "generator" or "expert".
      model: the Keras network with its weights.
      mode: one of MODES.
      batch: the fixed batch size of the main signature.
      calibration: {"mel", "face"} float32 arrays (N, ...) of real samples (int8, mixed).
      held_out: {"mel", "face"} samples other than the calibration ones (mixed: the measure).
      target_psnr: mixed stops adding float layers once the held-out PSNR reaches this.
      audio_to_mel: add the "audio_to_mel" signature; default: for float modes of the generator.
      log: where progress lines go.
      float_groups: mixed only: keep these `layer_groups` in float instead of searching (no
        held-out samples needed).
      outlier_factor: int8, mixed: calibrate without the samples `typical_samples` drops at this
        factor (None: on all samples).

    Returns:
      (content bytes, info dict).

    Raises:
      ValueError: bad mode or kind, missing samples.
      tf.lite conversion errors (ConverterError) when an op is not a TFLite builtin.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if audio_to_mel is None:
        audio_to_mel = kind == "generator" and mode in ("fp32", "fp16")
    if audio_to_mel and mode in ("int8", "mixed"):
        raise ValueError("audio_to_mel stays in float files (fp32, fp16): a quantised log-mel loses its range")
    started = time.perf_counter()
    info = {"kind": kind, "mode": mode, "batch": batch, "width": float(getattr(model, "width", 1.0)),
            "signatures": [SIGNATURE[kind]] + (["audio_to_mel"] if audio_to_mel else []),
            "calibration_samples": 0 if mode in ("fp32", "fp16") else len(calibration["mel"])}
    if mode in ("int8", "mixed") and calibration is not None and outlier_factor is not None:
        calibration, dropped = typical_samples(model, calibration, outlier_factor)
        info.update(calibration_samples=len(calibration["mel"]), calibration_outliers_dropped=dropped)
        if dropped:
            log(f"{mode}: calibrating on {len(calibration['mel'])} samples, {dropped} dropped whose activations "
                f"exceed {outlier_factor:g}x the median sample's")
    with _quiet(), _converter(kind, model, batch, audio_to_mel) as converter:
        _configure(converter, kind, mode, calibration)
        if mode == "mixed" and float_groups is not None:
            content, choice = _mixed_fixed(converter, calibration, float_groups)
            info.update(choice)
        elif mode == "mixed":
            if held_out is None:
                raise ValueError("mode mixed needs held-out samples to measure its error")
            reference = run_keras(model, kind, held_out)
            content, choice = _mixed(converter, kind, model, calibration, held_out, reference, target_psnr, log)
            info.update(choice)
        else:
            content = converter.convert()
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["bytes"] = len(content)
    return content, info


@contextlib.contextmanager
def _quiet():
    # the converter and the deprecated tf.lite interpreter warn on every call; ours say what matters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def interpreter(content, threads=2, runtime="tf"):
    """A .tflite interpreter: runtime "tf" (tf.lite.Interpreter) or "litert" (ai-edge-litert).

    On x86 TensorFlow's own interpreter measured faster than LiteRT 2.3 on this project's
    generator (docs/deployment.md), so it is the default.
    """
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter
    elif runtime == "tf":
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    else:
        raise ValueError(f"runtime must be 'tf' or 'litert', got {runtime!r}")
    with _quiet():
        return Interpreter(model_content=content, num_threads=threads)


def signature_batch(runner):
    """The fixed batch size of a signature runner's "mel" input."""
    return int(runner.get_input_details()["mel"]["shape"][0])


def run_tflite(content, kind, samples, threads=2, runtime="tf"):
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


def real_samples(kind, data_dir, filelist, count, seed=0, per_clip=4):
    """`count` inputs from a preprocessed corpus, as the training pipelines draw them, `per_clip`
    windows from each clip drawn (fewer spreads the samples over more clips and speakers).

    Returns:
      generator: {"mel" (N, 80, 16, 1), "face" (N, 96, 96, 6), "target" (N, 96, 96, 3),
      "sync_mel" (N // 5, 80, 16, 1)}: 5-frame windows flattened, N a multiple of 5;
      expert: {"mel" (N, 80, 16, 1), "face" (N, 48, 96, 15), "label" (N,)}.
    """
    from tflipsync.data import expert_dataset, generator_dataset

    if kind == "generator":
        windows = -(-count // 5)
        dataset = generator_dataset(data_dir, 8, filelist, seed=seed, samples_per_clip=per_clip, shuffle_buffer=32)
        parts = {"mel": [], "face": [], "target": [], "sync_mel": []}
        taken = 0
        for batch in dataset:
            parts["mel"].append(batch["mels"].numpy().reshape(-1, 80, 16, 1))  # (B*5, ...)
            parts["face"].append(batch["face"].numpy().reshape(-1, 96, 96, 6))
            parts["target"].append(batch["target"].numpy().reshape(-1, 96, 96, 3))
            parts["sync_mel"].append(batch["sync_mel"].numpy())
            taken += len(batch["sync_mel"])
            if taken >= windows:
                break
        samples = {k: np.concatenate(v) for k, v in parts.items()}
        return {k: v[:windows * (5 if k != "sync_mel" else 1)] for k, v in samples.items()}
    dataset = expert_dataset(data_dir, 32, filelist, seed=seed, samples_per_clip=8, shuffle_buffer=64)
    parts = {"mel": [], "face": [], "label": []}
    for batch in dataset:
        for key in parts:
            parts[key].append(batch[key].numpy())
        if sum(len(p) for p in parts["label"]) >= count:
            break
    return {k: np.concatenate(v)[:count] for k, v in parts.items()}


def write(content, path):
    """Writes the file's bytes atomically (`files.write_bytes`)."""
    from tflipsync import files

    files.write_bytes(path, content)
