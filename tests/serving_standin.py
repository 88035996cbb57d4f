"""A stand-in for tensorflow_model_server, for tests on machines where the server cannot be
installed: the part of its REST and gRPC predict API the request examples use, over real sockets,
answering from the SavedModel loaded exactly as the server loads it (tag serve, signature by key).

REST: POST /v1/models/<name>[/versions/<v>]:predict with {"signature_name", "inputs"} (columnar) or
{"instances"} (row form); answers {"outputs": ...} (a single output's value alone, as the server
does) or {"predictions": ...}; 404 for another model name, 400 for a bad request.
gRPC: tensorflow.serving.PredictionService/Predict; NOT_FOUND for another model name.
"""

import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf


class Model:
    def __init__(self, name, path):
        self.name = name
        self.loaded = tf.saved_model.load(path)

    def predict(self, signature, inputs):
        function = self.loaded.signatures[signature]
        specs = function.structured_input_signature[1]
        args = {k: tf.constant(np.asarray(v), dtype=specs[k].dtype) for k, v in inputs.items()}
        return {k: v.numpy() for k, v in function(**args).items()}


def rest_server(model):
    """Starts the REST stand-in on a free port; returns (server, "http://127.0.0.1:PORT")."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            # the whole request is read before any answer, as a server does: answering early
            # would close the socket under a client still sending its body
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            path = self.path.split("/")
            name = path[3].split(":")[0] if len(path) > 3 else ""
            if len(path) < 4 or path[1:3] != ["v1", "models"] or not self.path.endswith(":predict"):
                return self._reply(404, {"error": f"Malformed request: POST {self.path}"})
            if name != model.name:
                return self._reply(404, {"error": f"Servable not found for request: Latest({name})"})
            signature = body.get("signature_name", "serving_default")
            try:
                if "inputs" in body:
                    outputs = model.predict(signature, body["inputs"])
                    value = next(iter(outputs.values())) if len(outputs) == 1 else outputs
                    return self._reply(200, {"outputs": np.asarray(value).tolist() if len(outputs) == 1 else
                                             {k: v.tolist() for k, v in outputs.items()}})
                rows = body["instances"]
                inputs = {k: [row[k] for row in rows] for k in rows[0]}
                outputs = model.predict(signature, inputs)
                return self._reply(200, {"predictions": [
                    {k: v[i].tolist() for k, v in outputs.items()} for i in range(len(rows))]})
            except (KeyError, ValueError, TypeError, tf.errors.OpError) as err:
                return self._reply(400, {"error": str(err).splitlines()[0]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def grpc_server(model):
    """Starts the gRPC stand-in on a free port; returns (server, "127.0.0.1:PORT")."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            if request.model_spec.name != model.name:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: "
                                                         f"Latest({request.model_spec.name})")
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            outputs = model.predict(request.model_spec.signature_name or "serving_default", inputs)
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(request.model_spec)
            for k, v in outputs.items():
                response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2),
                         options=[("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.max_send_message_length", 64 << 20)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"
