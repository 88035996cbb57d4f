"""Example REST (port 8501, JSON) request to the SavedModel under TF-Serving.

    python export/request_rest.py --face examples/astronaut.jpg --audio examples/speech.wav --out served.png \
        [--server http://localhost:8501] [--model tflipsync]

The request is built in tflipsync/serving/client.py; start a server as README.md says.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tflipsync.serving.client import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("rest"))
