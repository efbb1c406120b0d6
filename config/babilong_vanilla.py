# The vanilla twin of babilong_lm2.py: same backbone, data and budget, no memory. Its window is
# 1024 tokens, the 1k training length: on longer inputs it keeps the most recent window, as a
# fixed-context LM does, so 2k-16k lie beyond it while LM2 and RMT read every 512-token segment.
from config.babilong_lm2 import *  # noqa: F401,F403

out_dir = "out/babilong_vanilla"
memory = "none"
segment_len = 1024
