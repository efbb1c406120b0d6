# The vanilla twin of babilong_lm2.py: same backbone, data and budget, no memory, and a window that
# covers the longest training length (4k = 3700 tokens + question + answer). Longer inputs at
# evaluation keep the most recent window, as a fixed-context LM does.
from config.babilong_lm2 import *  # noqa: F401,F403

out_dir = "out/babilong_vanilla"
memory = "none"
segment_len = 4096
