"""The constants every part of tflipsync shares; defined here once, imported everywhere else.

Images enter networks as NHWC BGR float32 in [0, 1]; face crops are square.
"""

FACE_SIZE = 96  # side of the face crop the generator and the expert see (pixels)
SYNC_FRAMES = 5  # video frames in one expert window (and in the generator's training window)
SAMPLE_RATE = 16000  # audio samples per second everywhere (Hz)
N_MELS = 80  # mel bands
MEL_FPS = 80  # mel frames per second (hop 200 samples at 16 kHz)
MEL_STEPS = 16  # mel frames in one window: 0.2 s, the span of SYNC_FRAMES video frames at 25 fps
