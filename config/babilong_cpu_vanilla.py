# The vanilla twin of babilong_cpu_lm2.py: same backbone, data and budget, no memory, and a window
# that covers the longest training length (2k = 1700 tokens + question + answer).
from config.babilong_cpu_lm2 import *  # noqa: F401,F403

out_dir = "out/cpu_vanilla"
memory = "none"
segment_len = 2048
