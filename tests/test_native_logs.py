"""The C++ log filter on standard error: native start-up lines dropped, everything else kept."""

import subprocess
import sys

SCRIPT = r"""
import os, sys
from tflipsync import native_logs
with native_logs.filtered_stderr():
    os.write(2, b"I0000 00:00:1795536920.771038   23501 port.cc:153] oneDNN custom operations are on.\n")
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"progress 1/2\rprogress 2/2\r")
    os.write(2, b"bar 0%WARNING: Logging before InitGoogle() is written to STDERR\n")
    os.write(2, b"sync: 0%| | 0/9 [00:00<?, ?frame/s]INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(2, b"W0000 00:00:1795536926.288749   23534 inference_runner_litert.cc:1433] Input tensor\n")
    print("tflipsync sync: error: clip.mp4: no such file", file=sys.stderr)
    os.write(2, b"unterminated tail")
print("after", file=sys.stderr)
"""


def run(**env_extra):
    import os
    env = {k: v for k, v in os.environ.items() if k != "TFLIPSYNC_NATIVE_LOGS"}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, env=env, timeout=60)


def test_native_lines_are_dropped_and_ours_kept_in_order():
    result = run()
    assert result.returncode == 0
    assert result.stderr == (b"progress 1/2\rprogress 2/2\rbar 0%sync: 0%| | 0/9 [00:00<?, ?frame/s]tflipsync sync: error: clip.mp4: no such file\n"
                             b"unterminated tailafter\n")


def test_the_filter_can_be_switched_off():
    result = run(TFLIPSYNC_NATIVE_LOGS="1")
    assert b"oneDNN custom operations" in result.stderr and b"XNNPACK" in result.stderr
