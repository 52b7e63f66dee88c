"""Project-wide constants shared by the world, the analyser and the models."""

SAMPLE_RATE = 16_000  # Hz, all audio inside the sandbox
FPS = 25  # motion and video frame rate
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640

EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
N_EMOTIONS = len(EMOTIONS)
