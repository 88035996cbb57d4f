"""TF-Serving request examples (export/request_rest.py, export/request_grpc.py) end to end.

The clients talk over real sockets to tests/serving_standin.py, which answers from the exported
SavedModel loaded as tensorflow_model_server loads it; where tensorflow_model_server is on PATH
the same requests also go to the real server (the test says it is skipped, and why, otherwise:
the server is not installable from the package registries CI uses).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

import serving_standin
from tflipsync.weights import bundled
from tflipsync.media import images
from tflipsync.deploy import saved_model
from tflipsync.serving import client as serving_client
from tflipsync.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACE, SPEECH = os.path.join(ROOT, "examples", "astronaut.jpg"), os.path.join(ROOT, "examples", "speech.wav")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    path = saved_model.export(bundled.load("generator"), str(base), "tflipsync", 1)
    return str(base), path


@pytest.fixture(scope="module")
def inputs():
    return serving_client.request_inputs(FACE, SPEECH, frames=10)


@pytest.fixture(scope="module")
def direct(exported, inputs):
    """What the signature itself returns for `inputs` (the reference for every client)."""
    return serving_standin.Model("tflipsync", exported[1]).predict("serving_default", inputs)["image"]


@pytest.fixture(scope="module")
def servers(exported):
    model = serving_standin.Model("tflipsync", exported[1])
    rest, rest_url = serving_standin.rest_server(model)
    grpc_server, grpc_target = serving_standin.grpc_server(model)
    yield {"rest": rest_url, "grpc": grpc_target}
    rest.shutdown()
    grpc_server.stop(None)


def test_request_inputs_are_what_sync_feeds_the_generator(inputs):
    assert inputs["face"].shape == (10, 96, 96, 3) and inputs["face"].dtype == np.uint8
    assert inputs["mel"].shape == (10, 80, 16) and inputs["mel"].dtype == np.float32
    np.testing.assert_array_equal(inputs["face"], inputs["reference"])
    assert inputs["face"].std() > 20  # a face crop, not a blank
    # consecutive frames get different windows of the speech
    assert np.abs(inputs["mel"][3] - inputs["mel"][6]).max() > 0.1


def test_rest_and_grpc_clients_get_the_signature_output(servers, inputs, direct):
    by_rest = serving_client.rest_predict(servers["rest"], "tflipsync", inputs)
    by_grpc = serving_client.grpc_predict(servers["grpc"], "tflipsync", inputs)
    assert by_rest.dtype == by_grpc.dtype == np.uint8 and by_rest.shape == direct.shape == (10, 96, 96, 3)
    np.testing.assert_array_equal(by_rest, direct)
    np.testing.assert_array_equal(by_grpc, direct)
    # the served lower half follows the audio: it changes between frames, the upper half does not
    assert np.abs(direct[:, 60:].astype(int) - direct[:1, 60:]).max() > 5


def test_grpc_request_is_a_serving_api_proto(inputs):
    request = serving_client.grpc_request("tflipsync", inputs)
    assert type(request).__name__ == "PredictRequest" and request.model_spec.signature_name == "serving_default"
    assert {k: tf.make_ndarray(v).dtype for k, v in request.inputs.items()} == {
        "face": np.uint8, "reference": np.uint8, "mel": np.float32}
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["mel"]), inputs["mel"])


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_example_scripts_write_the_strip_and_fail_cleanly(servers, direct, protocol, tmp_path, capsys):
    out = tmp_path / "served.png"
    script = os.path.join(ROOT, "export", f"request_{protocol}.py")
    ok = subprocess.run([sys.executable, script, "--server", servers[protocol], "--face", FACE, "--audio", SPEECH,
                         "--frames", "10", "--out", str(out)], capture_output=True, text=True, timeout=180)
    assert ok.returncode == 0, ok.stderr[-2000:]
    strip = images.read_image(str(out))
    assert strip.shape == (96, 96 * 3, 3)  # the input crop, then frames 0 and 5
    np.testing.assert_array_equal(strip[:, 96:192], direct[0])
    np.testing.assert_array_equal(strip[:, 192:], direct[5])
    # a model name the server does not have: one line naming the server, exit 1, no file (the
    # script's main, in this process)
    out.unlink()
    code = serving_client.main(protocol, ["--server", servers[protocol], "--model", "other", "--face", FACE,
                                          "--audio", SPEECH, "--frames", "2", "--out", str(out)])
    assert code == 1 and not out.exists()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"request_{protocol}: error: ") and servers[protocol] in lines[0]
    assert "not found" in lines[0].lower()


def test_unreachable_server_is_a_one_line_error(inputs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens once the socket closes
    with pytest.raises(InputError, match="cannot reach the server"):
        serving_client.rest_predict(f"http://127.0.0.1:{port}", "tflipsync", inputs, timeout=5)
    with pytest.raises(InputError, match="UNAVAILABLE"):
        serving_client.grpc_predict(f"127.0.0.1:{port}", "tflipsync", inputs, timeout=5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="tensorflow_model_server is not on PATH (not installable from PyPI or Debian; "
                           "README.md says how to run one)")
def test_real_model_server(exported, inputs, direct):
    base, _ = exported
    grpc_port, rest_port = _free_port(), _free_port()
    server = subprocess.Popen(["tensorflow_model_server", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                               "--model_name=tflipsync", f"--model_base_path={os.path.join(base, 'tflipsync')}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/tflipsync", timeout=2) as r:
                    if json.load(r)["model_version_status"][0]["state"] == "AVAILABLE":
                        break
            except OSError:
                pass
            assert time.time() < deadline and server.poll() is None, "the model server did not come up"
            time.sleep(0.5)
        np.testing.assert_array_equal(serving_client.rest_predict(f"http://127.0.0.1:{rest_port}", "tflipsync",
                                                                  inputs), direct)
        np.testing.assert_array_equal(serving_client.grpc_predict(f"127.0.0.1:{grpc_port}", "tflipsync", inputs),
                                      direct)
    finally:
        server.terminate()
        server.wait(timeout=30)
