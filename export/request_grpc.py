"""Example gRPC (port 8500, tensorflow-serving-api protos) request to the SavedModel under TF-Serving.

    python export/request_grpc.py --face examples/astronaut.jpg --audio examples/speech.wav --out served.png \
        [--server localhost:8500] [--model tflipsync]

The request is built in tflipsync/serving/client.py; start a server as README.md says.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tflipsync.serving.client import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("grpc"))
