"""Exports the generator or the expert to .tflite: the same as `tflipsync export tflite`.

    python export/tflite.py --out_dir exported --modes fp32,int8 --data_dir data --filelist ...
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tflipsync.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["export", "tflite"] + sys.argv[1:]))
