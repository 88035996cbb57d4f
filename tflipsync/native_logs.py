"""Keeps the C++ libraries' start-up chatter off the command's standard error.

TensorFlow, XLA, MediaPipe and LiteRT write informational lines straight to file descriptor 2
from C++ ("I0000 ... cuda_platform.cc ...", "INFO: Created TensorFlow Lite XNNPACK delegate"),
which no Python setting silences. `filtered_stderr()` points descriptor 2 at a pipe and copies
everything through except lines that look like those logs; our own messages, errors, tracebacks
and progress bars pass unchanged. Set TFLIPSYNC_NATIVE_LOGS=1 to see everything.
"""

import contextlib
import os
import re
import sys
import threading

NATIVE_LOG = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.\-]+:\d+\]"  # glog/absl info and warning lines
    rb"|E\d{4} [^\n]*(?:cuda|cuInit|oneDNN|AVX)"  # 'errors' about the absent GPU and CPU features
    rb"|INFO: "  # TFLite / LiteRT
    rb"|fully_quantize: \d+, inference_type: "  # the TFLite converter's quantiser, once per int8 conversion
    rb"|WARNING: All log messages before absl::InitializeLog"
    rb"|WARNING: Logging before InitGoogle"
    rb"|WARNING: \[model_load\.cc:\d+\] Sparsity tensors"  # LiteRT loading the full-range BlazeFace
    rb"|To enable the following instructions: )")

# The same lines when they land after a progress bar's unfinished line (no newline between).
NATIVE_TAIL = re.compile(
    rb"(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.\-]+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog"
    rb"|WARNING: Logging before InitGoogle"
    rb"|INFO: Created TensorFlow Lite)[^\n\r]*[\n\r]?$")


def _keep(piece):
    """What of one newline- or CR-terminated piece passes the filter."""
    if NATIVE_LOG.match(piece):
        return b""
    tail = NATIVE_TAIL.search(piece)
    return piece[:tail.start()] if tail else piece


def _pump(read_fd, write_fd):
    pending = b""
    while True:
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        pending += chunk
        # Pass pieces on as soon as they end (newline, or carriage return: progress bars).
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r"))
        if cut < 0:
            continue
        ready, pending = pending[:cut + 1], pending[cut + 1:]
        out = b"".join(_keep(piece) for piece in re.split(rb"(?<=[\n\r])", ready))
        if out:
            os.write(write_fd, out)
    if pending and not NATIVE_LOG.match(pending):
        os.write(write_fd, pending)


@contextlib.contextmanager
def filtered_stderr():
    """Within the block, native log lines on descriptor 2 are dropped (see the module docstring)."""
    if os.environ.get("TFLIPSYNC_NATIVE_LOGS"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_pump, args=(read_fd, saved), daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees the end and drains
        thread.join(timeout=5)
        os.close(read_fd)
        os.close(saved)
