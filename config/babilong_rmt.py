# The RMT twin of babilong_lm2.py: same backbone, data and budget, RMT memory tokens.
from config.babilong_lm2 import *  # noqa: F401,F403

out_dir = "out/babilong_rmt"
memory = "rmt"
