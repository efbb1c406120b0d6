# A laptop-sized LM2 run on qa1 (2 CPU cores). babilong_cpu_rmt.py and babilong_cpu_vanilla.py
# import this file (same backbone, data, recipe and budget). The recipe is the GPU one, scaled
# down; README's "Making the models learn" says what it reaches on 2 cores and what was tried.
# Evaluate afterwards with: python eval_babilong.py --ckpt out/cpu_lm2 --tasks qa1 --lengths 0k,1k,2k,4k
out_dir = "out/cpu_lm2"
memory = "lm2"
tasks = "qa1"
prompt_format = "qboth"
more_questions = 3
curriculum = "0k:1500@0.95,1k:300@0.9,2k:150"
train_samples = 20000
eval_samples = 50
eval_interval = 250
checkpoint_interval = 250
n_layer = 4
n_head = 4
n_embd = 128
segment_len = 256
mem_slots = 16
mem_heads = 4
batch_size = 32
learning_rate = 2e-3
min_lr = 2e-4
warmup_iters = 100
weight_decay = 0.0
device = "cpu"
