# The RMT twin of babilong_cpu_lm2.py: same backbone, data and budget, RMT memory tokens.
from config.babilong_cpu_lm2 import *  # noqa: F401,F403

out_dir = "out/cpu_rmt"
memory = "rmt"
