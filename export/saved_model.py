"""Exports the generator as a TF-Serving SavedModel: the same as `tflipsync export savedmodel`.

    python export/saved_model.py --base_dir models --name tflipsync --version 1
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tflipsync.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["export", "savedmodel"] + sys.argv[1:]))
