"""`python -m tflipsync ...` is the same as the `tflipsync` command."""

import sys

from tflipsync.cli import main

sys.exit(main())
