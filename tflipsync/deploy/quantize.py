"""Integer quantisation: calibration samples, and the layers `mixed` keeps in float.

Calibration gives every tensor of an int8 file its range from real samples (`typical_samples`
leaves out the few that would stretch those ranges). `mixed` is int8 with whole layers kept in
float: groups of layers (output block, decoder stages from the output back, then encoder stages)
are added one at a time, and the first set whose output reaches `target_psnr` dB against fp32 on
held-out samples is kept (or the best seen, when none does): the choice is made by measured
error, not by a fixed list. Layers are kept in float through the QuantizationDebugger's node
denylist, whose node names carry the Keras layer names.
"""

import numpy as np

from tflipsync.deploy import runtime
from tflipsync.evaluation import metrics

OUTLIER_FACTOR = 4.0


def representative_dataset(samples, count=None):
    """A representative_dataset callable over `samples` ({"mel", "face"} arrays), one at a time."""
    total = len(samples["mel"]) if count is None else min(count, len(samples["mel"]))

    def dataset():
        for i in range(total):
            yield {"mel": samples["mel"][i:i + 1], "face": samples["face"][i:i + 1]}
    return dataset


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


def single_layers(names, group):
    """The layers of a group (group_<k>), in order, from the node names."""
    layers = []
    for name in names:
        parts = name.split("/")[0][len(group) + 1:].split("_")
        if name.split("/")[0].startswith(group + "_") and parts[0].isdigit():
            layer = f"{group}_{parts[0]}"
            if layer not in layers:
                layers.append(layer)
    return layers


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


def mixed_given(converter, calibration, float_groups):
    """`mixed` with the float layers given: `layer_groups` names or single layers within them
    (e.g. "face_decoder_blocks_6_0"), such as another width's search chose.

    Args:
      converter: a TFLiteConverter configured for int8 with a representative dataset.
      calibration: {"mel", "face"} calibration samples.
      float_groups: names of groups or layers to keep in float.

    Returns:
      (content bytes, info dict).

    Raises:
      ValueError: a name matches no layer of the network.
    """
    names = _quantised_node_names(converter, calibration)
    unknown = [g for g in float_groups if not _prefixed(names, [g])]
    if unknown:
        raise ValueError(f"no layers {unknown} in this network; its groups are "
                         f"{[name for name, _ in layer_groups(names)]}")
    content = _floated(converter, calibration, _prefixed(names, float_groups))
    return content, {"float_groups": list(float_groups), "chosen_by": "given"}


def mixed_search(converter, kind, model, calibration, held_out, reference, target_psnr, log):
    """Chooses the float layers for `mixed` by measured PSNR; returns (content bytes, info dict).

    Whole groups are added from the output back until the held-out PSNR (`metrics.pooled_psnr`
    against `reference`, the Keras fp32 outputs) reaches the target; then the last group added is
    narrowed to the single layer of it, cheapest first, that still reaches the target with the
    groups before it (keeping less of the network in float).
    """
    from tflipsync.models import stats

    names = _quantised_node_names(converter, calibration)
    groups = layer_groups(names)
    chosen, best = [], None
    for count in range(0, len(groups) + 1):
        content = _floated(converter, calibration, [n for _, group in groups[:count] for n in group])
        quality = metrics.pooled_psnr(runtime.run_tflite(content, kind, held_out)[0], reference)
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
        for layer in sorted(single_layers(names, floated[-1]), key=lambda name: stats.flops_per_example(model, name)):
            trial = _floated(converter, calibration, _prefixed(names, before + [layer]))
            trial_quality = metrics.pooled_psnr(runtime.run_tflite(trial, kind, held_out)[0], reference)
            log(f"mixed: float {before + [layer]}: {trial_quality:.2f} dB")
            chosen.append((trial_quality, count, trial, before + [layer]))
            if trial_quality >= target_psnr:
                quality, content, floated = trial_quality, trial, before + [layer]
                break
    return content, {"float_groups": floated, "chosen_by": "measured PSNR",
                     "trials": [(q, f) for q, _, _, f in chosen],
                     "psnr_on_held_out": quality, "target_psnr": target_psnr}
