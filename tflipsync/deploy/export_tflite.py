"""`tflipsync export tflite` (also `python export/tflite.py`): .tflite files in one or more modes,
each measured into OUT_DIR/report.{json,md}.

    tflipsync export tflite --out_dir exported --modes fp32,fp16,int8,mixed \\
        --data_dir data --filelist corpus/filelists/train.txt --held_out_filelist corpus/filelists/test.txt

Without --weights the embedded default model is exported. int8 and mixed calibrate on
--calibration_samples real samples of --filelist; PSNR, SSIM and the expert's sync confidence are
measured on --held_out_samples of --held_out_filelist (other speakers). fp32 and fp16 need no
corpus: without --data_dir their report has size and speed only.

    tflipsync export tflite --out_dir exported --modes fp32,fp16
"""

import os

from tflipsync.errors import InputError, require_file


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    flags.DEFINE_enum("model", "generator", ["generator", "expert"], "Which network to export.", **fv)
    flags.DEFINE_string("weights", None, ".weights.h5 of the network (default: the embedded model).", **fv)
    flags.DEFINE_float("width", None, "Width of --weights (default 1.0).", **fv)
    flags.DEFINE_string("expert_weights", None, "Expert judging sync confidence in the report "
                        "(default: the embedded expert, when the generator is the embedded one).", **fv)
    flags.DEFINE_list("modes", ["fp32", "fp16", "int8", "mixed"], "Modes to export.", **fv)
    flags.DEFINE_integer("batch", 1, "Fixed batch size of the main signature.", **fv)
    flags.DEFINE_string("out_dir", None, "Folder for <name>_<mode>.tflite and report.{json,md}.", **fv)
    flags.DEFINE_string("name", None, "File name stem (default: the model kind).", **fv)
    flags.DEFINE_string("data_dir", None, "Preprocessed corpus (tflipsync preprocess) for calibration.", **fv)
    flags.DEFINE_string("filelist", None, "Clips calibrated on.", **fv)
    flags.DEFINE_string("held_out_filelist", None, "Clips measured on (default: --filelist).", **fv)
    flags.DEFINE_integer("calibration_samples", 200, "Real samples for int8 calibration.", **fv)
    flags.DEFINE_integer("calibration_seed", 1, "Seed of the calibration draw (int8 quality depends on it: "
                         "docs/deployment.md).", **fv)
    flags.DEFINE_integer("held_out_samples", 100, "Real samples for the quality figures.", **fv)
    flags.DEFINE_float("target_psnr", 30.0, "mixed: keep layers in float until this PSNR (dB).", **fv)
    flags.DEFINE_boolean("report", True, "Measure speed and quality of each file.", **fv)
    flags.DEFINE_list("threads", ["1", "2"], "Thread counts measured.", **fv)
    flags.DEFINE_float("seconds", 2.0, "Length of one timed block.", **fv)


def check_inputs(f):
    """Checks the flags and input files before anything is loaded or written.

    Returns:
      (calibrate, measure): whether calibration samples (int8, mixed) and held-out samples (the
      report's quality figures, mixed's search) are drawn from --data_dir.

    Raises:
      InputError: naming the first unusable flag or file.
    """
    from tflipsync.deploy.tflite import MODES, QUANTISED

    if not f.out_dir:
        raise InputError("--out_dir", "is required")
    if os.path.exists(f.out_dir) and not os.path.isdir(f.out_dir):
        raise InputError(f.out_dir, "is a file, not a folder (--out_dir)")
    bad = [m for m in f.modes if m not in MODES]
    if bad:
        raise InputError("--modes", f"unknown {bad}; choose from {list(MODES)}")
    for path in (f.weights, f.expert_weights):
        if path:
            require_file(path, "a .weights.h5 file")
    calibrate = any(m in QUANTISED for m in f.modes)
    # a float export needs no corpus; one given is used for the report's quality figures
    measure = "mixed" in f.modes or (f.report and f.data_dir is not None)
    if calibrate or measure:
        if not f.data_dir or not os.path.isdir(f.data_dir):
            raise InputError(f.data_dir or "--data_dir", "a preprocessed corpus folder is needed for int8, "
                             "mixed and the report (tflipsync preprocess)")
        for path in (f.filelist, f.held_out_filelist):
            if path and not os.path.isfile(path):
                raise InputError(path, "no such filelist")
    return calibrate, measure


def run(f):
    calibrate, measure = check_inputs(f)

    from tflipsync import files
    from tflipsync.deploy import report, tflite
    from tflipsync.deploy.samples import real_samples
    from tflipsync.weights import bundled

    model, description = bundled.network(f.model, f.weights, f.width)
    calibration = held_out = None
    try:
        if calibrate:
            calibration = real_samples(f.model, f.data_dir, f.filelist, f.calibration_samples,
                                       seed=f.calibration_seed)
        if measure:
            held_out = real_samples(f.model, f.data_dir, f.held_out_filelist or f.filelist,
                                    f.held_out_samples, seed=2)
    except ValueError as err:
        raise InputError(f.data_dir, str(err).splitlines()[0]) from None
    expert = None
    if f.report and held_out is not None and f.model == "generator":
        if f.expert_weights:
            expert, _ = bundled.network("expert", f.expert_weights, model.width)
        elif not f.weights:
            expert = bundled.load("expert")
    if f.report and held_out is None:
        print("report: size and speed only; PSNR, SSIM and sync confidence need --data_dir", flush=True)
    os.makedirs(f.out_dir, exist_ok=True)  # only now: a refused export leaves no folder behind
    stem = f.name or f.model
    rows = []
    for mode in f.modes:
        print(f"{mode}: converting {description}", flush=True)
        content, info = tflite.convert(f.model, model, mode, f.batch, calibration, held_out, f.target_psnr)
        path = os.path.join(f.out_dir, f"{stem}_{mode}.tflite")
        files.write_bytes(path, content)
        row = {"file": path, **info}
        if f.report:
            row.update(report.measure(content, f.model, model, held_out, expert,
                                      threads=[int(t) for t in f.threads], seconds=f.seconds))
        rows.append(row)
        quality = f", {row['psnr_db']} dB" if "psnr_db" in row else ""
        print(f"{mode}: {path} ({len(content) / 1e6:.2f} MB)" + (
            f"{quality}, frames/s {row['frames_per_s']}" if f.report else ""), flush=True)
    report.write_reports(rows, os.path.join(f.out_dir, "report"))
    print(f"report: {os.path.join(f.out_dir, 'report.md')}")
    return 0
