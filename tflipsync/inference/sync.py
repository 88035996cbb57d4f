"""`tflipsync sync`: lip-syncs a video or a photo to speech, streaming, and writes an mp4.

Two passes over the face input, neither holding the video in memory:

1. detection (tflipsync/inference/plan.py): every source frame once through BlazeFace; the main
   face's boxes are kept, never the frames, and the output is planned;
2. synthesis (tflipsync/inference/pipeline.py): decode, redraw (tflipsync/inference/redraw.py:
   crop, generate and paste back the lower face, tflipsync/inference/paste.py) and encode on three
   threads with bounded queues, so memory does not grow with the video's length.

The output lasts as long as the audio (to the frame), keeps the input's frame rate (a photo gets
--fps) and resolution, and carries the input audio. Frames whose face was not found pass through
unchanged and are counted; so are frames whose mouth is covered or turned away (the face mesh's
check, tflipsync/faces/visibility.py) and silent frames (see --silence).

`--engine landmarks` (tflipsync/inference/engines/landmarks.py) redraws no pixels: pass 1 also runs the face
mesh on each face, the landmark predictor plans the mouth of every output frame, and pass 2 warps
the frame's own mouth there (tflipsync/inference/warp.py). `--sketch` writes its landmark and edge sketch
(tflipsync/inference/sketch.py) beside the output, frame for frame.

`--who` chooses the face (tflipsync/faces/people.py): the main face of each shot by default, or a
person chosen once and followed through the video, or every face (`all`).

This module is the command: its top imports nothing heavy, so `--help` and bad input answer at once.
"""

import contextlib

from tflipsync.inference.options import SILENCE_MODES, Options, check_options, check_paths, parse_ints, resolve_engine


def run_sync(options, engine=None):
    """Runs the whole job; returns a summary dict. Raises InputError for unusable input.

    `engine`: optional crop engine built once for many jobs (plan.prepare).
    """
    options = resolve_engine(options)
    check_options(options)
    check_paths(options)
    from tflipsync.media import encode
    from tflipsync.inference import pipeline, plan

    job = plan.prepare(options, engine=engine)
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(encode.VideoWriter(options.out, job.fps, job.size, audio=options.audio))
        sketch = None
        if options.sketch:
            sketch = stack.enter_context(encode.VideoWriter(options.sketch, job.fps, job.size,
                                                            audio=options.audio)).write
        counts = pipeline.render(job, writer.write, sketch)
    return pipeline.summary(job, counts, out=options.out, audio_copied=writer.audio_copied, sketch=options.sketch)


def define_flags(flag_values):
    from absl import flags

    fv = {"flag_values": flag_values}
    flags.DEFINE_string("face", None, "Video or photo with the face to lip-sync.", **fv)
    flags.DEFINE_string("audio", None, "Speech: any audio file or the audio track of a video.", **fv)
    flags.DEFINE_string("out", None, "Output video (.mp4, .mov or .mkv).", **fv)
    flags.DEFINE_string("weights", None, "Generator weights: .weights.h5 for keras (e.g. from `tflipsync convert`), "
                        "a .tflite for tflite, a SavedModel folder for savedmodel (`tflipsync export`); "
                        "a landmark model file for landmarks; default: the embedded model.", **fv)
    flags.DEFINE_float("width", None, "Generator width --weights were made for (default 1.0).", **fv)
    flags.DEFINE_enum("engine", "auto", ["auto", "keras", "tflite", "savedmodel", "landmarks"], "Inference engine: a "
                      "generator that redraws the lower face, or landmarks: predicted mouth landmarks warp the "
                      "face's own mouth (any face, photo or cartoon; no pixel generator). auto: keras with "
                      "--weights or --who all, otherwise the embedded engine that lip-syncs real faces best "
                      "(docs/real_faces.md).", **fv)
    flags.DEFINE_string("sketch", None, "Also write the landmark and edge sketch of every output frame to this "
                        "video (.mp4, .mov or .mkv; --engine landmarks).", **fv)
    flags.DEFINE_list("pads", ["0", "0", "0", "0"], "Extra pixels top,bottom,left,right around the face box "
                      "(the box already holds the chin; add bottom pixels for long chins).", **fv)
    flags.DEFINE_string("who", None, "Whose face to redraw, chosen on the first frame with a face and followed "
                        "through the video: largest, center, left, right, all (every face), or N, the face's "
                        "number from the left as `tflipsync faces` draws it (default: the main face of each "
                        "shot).", **fv)
    flags.DEFINE_list("box", None, "Fixed face box top,bottom,left,right in the frame: skips detection.", **fv)
    flags.DEFINE_integer("resize_factor", 1, "Downscale frames by this integer factor first.", lower_bound=1, **fv)
    flags.DEFINE_list("crop", ["0", "-1", "0", "-1"], "Crop top,bottom,left,right after resize and rotate "
                      "(-1: the full extent).", **fv)
    flags.DEFINE_boolean("rotate", False, "Turn frames 90 degrees clockwise (rotation metadata is applied "
                         "anyway).", **fv)
    flags.DEFINE_boolean("nosmooth", False, "Do not average face boxes over neighbouring frames.", **fv)
    flags.DEFINE_boolean("static", False, "Use only the video's first frame.", **fv)
    flags.DEFINE_float("fps", 25.0, "Frame rate of the output for a photo (a video keeps its own).", **fv)
    flags.DEFINE_integer("batch_size", 16, "Frames per generator call.", lower_bound=1, **fv)
    flags.DEFINE_integer("window_offset", -1, "Frame j's mel window starts at frame j + this (-1: as trained; "
                         "0: the original inference script).", **fv)
    flags.DEFINE_enum("silence", "original", list(SILENCE_MODES), "Silent frames: keep the original frame, "
                      "generate a closed mouth, or treat as speech.", **fv)
    flags.DEFINE_float("silence_db", 40.0, "A frame this many dB below the loudest is silent.", **fv)
    flags.DEFINE_float("feather", 0.12, "Softness of the paste mask (fraction of the face box).", **fv)
    flags.DEFINE_boolean("colour_match", True, "Match the generated mouth's colour to the frame.", **fv)
    flags.DEFINE_boolean("progress", True, "Show progress bars.", **fv)
    for name in ("face", "audio", "out"):
        flags.mark_flag_as_required(name, flag_values=flag_values)


def options_from_flags(f):
    """Options from parsed flags (define_flags)."""
    return Options(
        face=f.face, audio=f.audio, out=f.out, weights=f.weights, width=f.width, engine=f.engine,
        pads=parse_ints("pads", f.pads, 4), box=parse_ints("box", f.box, 4) if f.box else None,
        resize_factor=f.resize_factor, crop=parse_ints("crop", f.crop, 4), rotate=f.rotate, nosmooth=f.nosmooth,
        static=f.static, fps=f.fps, batch_size=f.batch_size, window_offset=f.window_offset, silence=f.silence,
        silence_db=f.silence_db, feather=f.feather, colour_match=f.colour_match, progress=f.progress,
        sketch=f.sketch, who=f.who)


def print_faces(summary):
    """Prints the summary's lines about the faces: redrawn and passed-through frames, a small face."""
    print(f"faces redrawn in {summary['generated']} frames; passed through unchanged: "
          f"{summary['no_face']} without a face, {summary['occluded']} with the mouth covered (occluded), "
          f"{summary['profile']} turned away (profile), {summary['silent']} silent")
    if summary["small_face"] is not None:
        print(f"the face is small ({summary['small_face']:.0f} px across): it is upscaled to the network's "
              "96 px input and the result may look soft")


def run(flag_values):
    options = options_from_flags(flag_values)
    summary = run_sync(options)
    height, width = summary["size"]
    print(f"wrote {summary['out']}: {summary['frames']} frames, {width}x{height} at {summary['fps']:g} fps "
          f"({summary['seconds']:.2f} s for {summary['audio_seconds']:.2f} s of audio; audio "
          f"{'copied' if summary['audio_copied'] else 'encoded to AAC'})")
    print_faces(summary)
    print(f"model: {summary['model']}")
    if summary["sketch"]:
        print(f"sketch: {summary['sketch']}")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary["stages"].items())
    print(f"{summary['frames'] / summary['elapsed']:.1f} frames/s end to end ({stages})")
