# LM2 on BABILong qa1-qa5, sized for one GPU. babilong_rmt.py and babilong_vanilla.py import this
# file, so the three share backbone, data, recipe and budget; only the memory differs.
# Recipe (README, "Making the models learn"): the question before and after the input (the
# H100 run that learned qa1 at 0k used it, one question per story), length-bucketed batches, and
# a curriculum whose stages end once held-out accuracy reaches their target. No story-size stages
# (0k/2, 0k/4) as in the CPU configs: qa3 has no story of two statements. qboth is also what the
# CPU configs now use (with conv_width=6 it led qlast there). Dense further questions
# (more_questions) are off: on 2 CPU cores they slowed the binding down.
out_dir = "out/babilong_lm2"
memory = "lm2"
tasks = "qa1,qa2,qa3,qa4,qa5"
prompt_format = "qboth"
more_questions = 0
curriculum = "0k:3000@0.95,1k:1500@0.9,2k:1500"
train_samples = 20000
eval_samples = 50
eval_interval = 250
checkpoint_interval = 250
n_layer = 6
n_head = 6
n_embd = 384
segment_len = 512
mem_slots = 16
conv_width = 6                # a place token sees its sentence's subject, at most 5 tokens back: on
                              # 2 CPU cores it took qa1 at 0k from 70-80% to 100% (experiments/
                              # README.md: *Convolution width*); not yet measured on a GPU
batch_size = 128
learning_rate = 1e-3
min_lr = 1e-4
warmup_iters = 200
