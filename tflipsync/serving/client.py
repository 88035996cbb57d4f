"""Clients for the SavedModel under TF-Serving: REST (port 8501) and gRPC (port 8500) requests.

Both call the `serving_default` signature (tflipsync/deploy/saved_model.py) with uint8 RGB face
crops, the same crops as identity reference, and normalised mel windows, and get uint8 RGB crops
back. The REST request uses TF-Serving's columnar JSON form (`"inputs": {name: nested lists}`);
the gRPC request is a `tensorflow_serving.apis.PredictRequest` built from the protos of
`tensorflow-serving-api` (`pip install tflipsync[serving]`).

`request_inputs` makes the three inputs from a photo and a speech file the way `tflipsync sync`
does (face found by the detector, padded box, 96x96 crop; mel window of frame k starting at
mel_start(k - 1)).
"""

import json
import urllib.error
import urllib.request

import numpy as np

from tflipsync.errors import InputError
from tflipsync.conventions import SAMPLE_RATE

SIGNATURE = "serving_default"


def request_inputs(face_path, audio_path, frames=25, fps=25.0):
    """Inputs for `frames` output frames of a photo lip-synced to the start of a speech file.

    Returns:
      dict face (F, 96, 96, 3) uint8 RGB, reference (same), mel (F, 80, 16) float32.
    """
    from tflipsync.audio import io as audio_io, mel as audio_mel, windows as audio_windows
    from tflipsync.faces import crop as face_crop, detect
    from tflipsync.media import images

    rgb = images.read_image(face_path)
    with detect.FaceDetector() as detector:
        found = detector.detect(rgb)
    if not found:
        raise InputError(face_path, "no face found")
    box = face_crop.pad_box(found[0].box, rgb.shape[:2])
    crop = face_crop.face_crop(rgb, box)  # RGB, as the signature takes it
    wav = audio_io.load_wav(audio_path)
    count = min(frames, max(1, int(len(wav) / SAMPLE_RATE * fps)))
    crops = np.repeat(crop[None], count, axis=0)
    windows = audio_windows.output_windows(audio_mel.melspectrogram(wav), count, fps)  # offset -1, as sync cuts them
    return {"face": crops, "reference": crops.copy(), "mel": windows}


def rest_body(inputs, signature=SIGNATURE):
    """The JSON body of a REST predict request (columnar "inputs" form)."""
    return {"signature_name": signature,
            "inputs": {name: np.asarray(value).tolist() for name, value in inputs.items()}}


def rest_predict(url, model, inputs, signature=SIGNATURE, timeout=60.0):
    """POSTs to http://HOST:8501/v1/models/MODEL:predict; returns the "image" output (uint8)."""
    endpoint = f"{url.rstrip('/')}/v1/models/{model}:predict"
    data = json.dumps(rest_body(inputs, signature)).encode()
    request = urllib.request.Request(endpoint, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.load(response)
    except urllib.error.HTTPError as err:
        raise InputError(endpoint, f"the server answered {err.code}: {err.read().decode(errors='replace')[:300]}") \
            from None
    except (urllib.error.URLError, OSError) as err:
        raise InputError(endpoint, f"cannot reach the server: {getattr(err, 'reason', err)}") from None
    outputs = reply["outputs"]
    image = outputs["image"] if isinstance(outputs, dict) else outputs  # one output: its value alone
    return np.asarray(image, np.uint8)


def grpc_request(model, inputs, signature=SIGNATURE):
    """A PredictRequest (tensorflow-serving-api protos) for the model's signature."""
    import tensorflow as tf

    predict_pb2 = _serving_apis().predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    return request


def grpc_predict(target, model, inputs, signature=SIGNATURE, timeout=60.0):
    """Calls PredictionService/Predict on HOST:8500; returns the "image" output (uint8)."""
    import grpc
    import tensorflow as tf

    apis = _serving_apis()
    # a batch of 25 crops with mel windows is about 2 MB; the default limit is 4 MB
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = apis.prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(grpc_request(model, inputs, signature), timeout=timeout)
        except grpc.RpcError as err:
            raise InputError(target, f"gRPC {err.code().name}: {err.details()}") from None
    return tf.make_ndarray(response.outputs["image"])


def _serving_apis():
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError:
        raise InputError("tensorflow-serving-api", "not installed: pip install 'tflipsync[serving]'") from None

    class Apis:
        pass

    apis = Apis()
    apis.predict_pb2, apis.prediction_service_pb2_grpc = predict_pb2, prediction_service_pb2_grpc
    return apis


def main(protocol, argv=None):
    """The request examples (export/request_rest.py, export/request_grpc.py): a photo and speech
    in, the served crops out as one PNG strip (input crop, then every fifth generated frame)."""
    import argparse
    import sys

    from tflipsync.media import images

    default = {"rest": "http://localhost:8501", "grpc": "localhost:8500"}[protocol]
    parser = argparse.ArgumentParser(description=f"Lip-syncs a photo through TF-Serving ({protocol}).")
    parser.add_argument("--server", default=default, help=f"the model server (default {default})")
    parser.add_argument("--model", default="tflipsync", help="the served model's name")
    parser.add_argument("--face", required=True, help="a photo with a face")
    parser.add_argument("--audio", required=True, help="speech (any format ffmpeg reads)")
    parser.add_argument("--frames", type=int, default=25, help="frames to request (at 25 fps)")
    parser.add_argument("--out", required=True, help="PNG strip to write")
    args = parser.parse_args(argv)
    try:
        inputs = request_inputs(args.face, args.audio, args.frames)
        if protocol == "rest":
            image = rest_predict(args.server, args.model, inputs)
        else:
            image = grpc_predict(args.server, args.model, inputs)
        if image.shape != inputs["face"].shape:
            raise InputError(args.server, f"unexpected output shape {image.shape}")
        images.write_png(args.out, np.concatenate([inputs["face"][0]] + list(image[::5]), axis=1))
    except InputError as err:
        print(f"request_{protocol}: error: {err}", file=sys.stderr)
        return 1
    print(f"{len(image)} frames served by {args.model} at {args.server}; wrote {args.out}")
    return 0
