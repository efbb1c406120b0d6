# A laptop-sized LM2 run: qa1 with a 0k -> 1k -> 2k curriculum, about 20 minutes on 2 CPU cores.
# babilong_cpu_rmt.py and babilong_cpu_vanilla.py import this file (same backbone, data, budget).
# Evaluate afterwards with: python eval_babilong.py --ckpt out/cpu_lm2 --tasks qa1 --lengths 0k,1k,2k,4k
out_dir = "out/cpu_lm2"
memory = "lm2"
tasks = "qa1"
curriculum = "0k:2000,1k:300,2k:200"
train_samples = 5000
eval_samples = 50
eval_interval = 500
checkpoint_interval = 250
n_layer = 4
n_head = 4
n_embd = 128
segment_len = 256
mem_slots = 16
mem_heads = 4
batch_size = 16
learning_rate = 2e-3
min_lr = 2e-4
warmup_iters = 50
weight_decay = 0.0
device = "cpu"
