# The vanilla twin of babilong_cpu_lm2.py: same backbone, data and budget, no memory, and a window
# of 1024 tokens (the 1k training length): at 2k and 4k it sees only the most recent window. Its
# curriculum's "%64" stage has no memory to train, so it reads those 0k stories whole.
from config.babilong_cpu_lm2 import *  # noqa: F401,F403

out_dir = "out/cpu_vanilla"
memory = "none"
segment_len = 1024
