"""The `tflipsync` command: one sub-command per library entry point, each with its own absl flags.

Each sub-command module defines `define_flags(flag_values)` and `run(flag_values)`; this file only
dispatches, so importing it runs nothing.
"""

import importlib
import os
import re
import sys

from absl import flags

from tflipsync import native_logs
from tflipsync.errors import InputError

COMMANDS = {
    "sync": ("tflipsync.inference.sync", "lip-sync a video or a photo to speech; write an mp4"),
    "sticker": ("tflipsync.inference.sticker", "a looping 512 px lip-synced sticker: GIF, WebP, WebM or mp4"),
    "faces": ("tflipsync.inference.faces_png", "number the faces of a photo or a video's first frame in a PNG "
                                               "(for --who N)"),
    "convert": ("tflipsync.weights.convert", "import an official Wav2Lip checkpoint (.pth) as .weights.h5"),
    "generate": ("tflipsync.inference.generate", "run the generator on a face image and speech; write a contact sheet"),
    "fetch-models": ("tflipsync.faces.assets", "fetch the MediaPipe face model files (once, at set-up)"),
    "export tflite": ("tflipsync.deploy.export_tflite", "the generator or expert as .tflite (fp32, fp16, int8, mixed) "
                                                        "with a speed and quality report"),
    "export savedmodel": ("tflipsync.deploy.export_savedmodel", "the generator as a TF-Serving SavedModel "
                                                                "(<base>/<name>/<version>/)"),
    "export landmarks": ("tflipsync.deploy.landmarks", "the landmark LSTM as a streaming .tflite "
                                                       "(one mel step in, one mouth frame out)"),
    "export app": ("tflipsync.deploy.app", "the web app's model files (detector, mesh, mouth.tflite), manifest.json"),
    "synth": ("tflipsync.corpus.synth", "make a synthetic talking-face corpus (mp4 + ground truth)"),
    "preprocess": ("tflipsync.corpus.preprocess", "track faces in videos and pack clips for training"),
    "batch-sync": ("tflipsync.batch.sync", "lip-sync every row of a CSV manifest on Apache Beam (local or a cluster)"),
}


def _usage():
    lines = ["usage: tflipsync COMMAND [--flags]   (tflipsync COMMAND --help for its flags)", "", "commands:"]
    lines += [f"  {name:17s} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def _one_line(err):
    """absl's flag error as one line: all missing required flags named together."""
    missing = re.findall(r"Flag (--\w+) must have a value other than None", str(err))
    if missing:
        return f"missing required flag{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    return str(err).splitlines()[0]


def run_command(name, argv):
    """Parses `argv` (flags only) for sub-command `name` and runs it; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_logs.filtered_stderr():
        module = importlib.import_module(COMMANDS[name][0])
        flag_values = flags.FlagValues()
        module.define_flags(flag_values)
        if any(a in ("-h", "--help", "--helpshort") for a in argv):
            print(f"usage: tflipsync {name} [--flags]\n\n{COMMANDS[name][1]}\n")
            print(flag_values.module_help(module.__name__))
            return 0
        try:
            extra = flag_values([f"tflipsync {name}"] + list(argv))
            flag_values.validate_all_flags()
        except flags.Error as err:
            print(f"tflipsync {name}: {_one_line(err)}", file=sys.stderr)
            return 2
        if len(extra) > 1:
            print(f"tflipsync {name}: unexpected arguments: {' '.join(extra[1:])}", file=sys.stderr)
            return 2
        try:
            return module.run(flag_values) or 0
        except InputError as err:
            print(f"tflipsync {name}: error: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"tflipsync {name}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # the reader of our output went away (`| head`): stop quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141


def main(argv=None):
    """Entry point of the `tflipsync` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "export" and len(argv) > 1 and not argv[1].startswith("-"):
        argv = [f"export {argv[1]}"] + argv[2:]  # two-word commands
    if argv[0] not in COMMANDS:
        print(f"tflipsync: unknown command {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return run_command(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
