"""The generator and the expert as .tflite files with named signatures, fixed shapes, builtin ops only.

Modes:
  fp32   plain conversion (the debugging reference);
  fp16   weights stored as float16 (dequantised once on CPU, native on GPU delegates);
  int8   full integer: every op int8, activation ranges calibrated on real samples;
  mixed  int8 with whole layers kept in float, chosen by measured error (`deploy.quantize`).

Input and output tensors stay float32 in every mode (the int8 files quantise at their entry and
dequantise at their exit), so one calling convention serves all four files (`deploy.signatures`;
`deploy.runtime` runs them). The graph converted is `deploy.graph.inference_function`: batch norm
folded and skip concatenations split (see there for why int8 needs that). Conversion is
restricted to TFLite builtin ops; a model that would need TensorFlow (Flex) ops fails to convert
instead of producing a file that phones cannot run.
"""

import contextlib
import tempfile
import time

from tflipsync.deploy import quantize, runtime, signatures

MODES = ("fp32", "fp16", "int8", "mixed")
QUANTISED = ("int8", "mixed")  # the modes that need calibration samples


@contextlib.contextmanager
def saved_model_converter(module, functions):
    """A TFLiteConverter over a temporary SavedModel of `module`, restricted to builtin ops.

    Going through a SavedModel keeps the signatures' names and argument names in the file.

    Args:
      module: a tf.Module.
      functions: {signature name: tf.function of the module}.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="tflipsync-export-") as folder:
        tf.saved_model.save(module, folder, signatures=functions)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=list(functions))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        yield converter


def configure(converter, mode, calibration):
    """Sets `converter` up for `mode`; calibration: {"mel", "face"} samples (int8, mixed)."""
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode in QUANTISED:
        if calibration is None or len(calibration["mel"]) == 0:
            raise ValueError(f"mode {mode} needs calibration samples")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = quantize.representative_dataset(calibration)
        if mode == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]


def convert(kind, model, mode, batch=1, calibration=None, held_out=None, target_psnr=30.0,
            audio_to_mel=None, log=print, float_groups=None, outlier_factor=quantize.OUTLIER_FACTOR):
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
      float_groups: mixed only: keep these `quantize.layer_groups` in float instead of searching
        (no held-out samples needed).
      outlier_factor: int8, mixed: calibrate without the samples `quantize.typical_samples`
        drops at this factor (None: on all samples).

    Returns:
      (content bytes, info dict).

    Raises:
      ValueError: bad mode or kind, missing samples.
      tf.lite conversion errors (ConverterError) when an op is not a TFLite builtin.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if kind not in signatures.KINDS:
        raise ValueError(f"kind must be one of {signatures.KINDS}, got {kind!r}")
    if audio_to_mel is None:
        audio_to_mel = kind == "generator" and mode not in QUANTISED
    if audio_to_mel and mode in QUANTISED:
        raise ValueError("audio_to_mel stays in float files (fp32, fp16): a quantised log-mel loses its range")
    if mode in QUANTISED and (calibration is None or len(calibration["mel"]) == 0):
        raise ValueError(f"mode {mode} needs calibration samples")
    started = time.perf_counter()
    info = {"kind": kind, "mode": mode, "batch": batch, "width": float(getattr(model, "width", 1.0)),
            "signatures": [signatures.SIGNATURE[kind]] + (["audio_to_mel"] if audio_to_mel else []),
            "calibration_samples": len(calibration["mel"]) if mode in QUANTISED else 0}
    if mode in QUANTISED and outlier_factor is not None:
        calibration, dropped = quantize.typical_samples(model, calibration, outlier_factor)
        info.update(calibration_samples=len(calibration["mel"]), calibration_outliers_dropped=dropped)
        if dropped:
            log(f"{mode}: calibrating on {len(calibration['mel'])} samples, {dropped} dropped whose activations "
                f"exceed {outlier_factor:g}x the median sample's")
    module, functions = signatures.export_module(kind, model, batch, audio_to_mel)
    with runtime.quiet_warnings(), saved_model_converter(module, functions) as converter:
        configure(converter, mode, calibration)
        if mode == "mixed" and float_groups is not None:
            content, choice = quantize.mixed_given(converter, calibration, float_groups)
            info.update(choice)
        elif mode == "mixed":
            if held_out is None:
                raise ValueError("mode mixed needs held-out samples to measure its error")
            reference = runtime.run_keras(model, kind, held_out)
            content, choice = quantize.mixed_search(converter, kind, model, calibration, held_out, reference,
                                                    target_psnr, log)
            info.update(choice)
        else:
            content = converter.convert()
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["bytes"] = len(content)
    return content, info
