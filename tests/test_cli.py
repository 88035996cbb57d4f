"""The command line answers --help, a missing required flag and a missing input file without
importing TensorFlow (or MediaPipe, OpenCV, Keras): each case runs in a fresh child process that
reports which heavy modules were imported."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HEAVY = ("tensorflow", "keras", "mediapipe", "cv2", "torch")

PROBE = """
import sys
from tflipsync import cli
status = cli.main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
print('HEAVY:' + ','.join(sorted({{m.split('.')[0] for m in heavy}})), file=sys.stderr)
sys.exit(status)
"""


def run_cli(*argv):
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    heavy_line = [line for line in result.stderr.splitlines() if line.startswith("HEAVY:")]
    assert heavy_line, result.stderr[-2000:]
    heavy = [m for m in heavy_line[-1][len("HEAVY:"):].split(",") if m]
    messages = [line for line in result.stderr.splitlines() if not line.startswith("HEAVY:")]
    return result.returncode, result.stdout, messages, heavy


COMMANDS = ["sync", "sticker", "generate", "faces", "convert", "fetch-models", "synth", "preprocess",
            "export tflite", "export savedmodel", "export landmarks"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_imports_no_tensorflow(command):
    status, out, _, heavy = run_cli(*command.split(), "--help")
    assert status == 0
    assert "--" in out  # the flags are listed
    assert heavy == []


def test_top_level_usage_imports_no_tensorflow():
    status, out, _, heavy = run_cli("--help")
    assert status == 0 and "commands:" in out and heavy == []


def test_missing_required_flag_is_one_line(tmp_path):
    status, _, messages, heavy = run_cli("sync", "--face", "x.jpg", "--out", str(tmp_path / "o.mp4"))
    assert status == 2
    assert len(messages) == 1 and "--audio" in messages[0], messages
    assert heavy == []


@pytest.mark.parametrize("command", ["sync", "sticker"])
def test_missing_face_answers_before_tensorflow(command, tmp_path):
    out = tmp_path / ("o.mp4" if command == "sync" else "o.gif")
    status, _, messages, heavy = run_cli(command, "--face", str(tmp_path / "missing.jpg"), "--audio",
                                         os.path.join(ROOT, "examples", "speech.wav"), "--out", str(out))
    assert status == 1
    assert messages == [f"tflipsync {command}: error: {tmp_path / 'missing.jpg'}: no such file"], messages
    assert heavy == []
    assert not out.exists()


def test_several_missing_required_flags_are_one_line():
    status, _, messages, heavy = run_cli("preprocess")
    assert status == 2
    assert messages == ["tflipsync preprocess: missing required flags --input, --out"], messages
    assert heavy == []
