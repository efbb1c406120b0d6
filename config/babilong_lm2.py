# LM2 on BABILong qa1-qa5 with a 0k -> 4k curriculum, sized for one GPU. babilong_rmt.py and
# babilong_vanilla.py import this file, so the three share backbone, data and budget.
out_dir = "out/babilong_lm2"
memory = "lm2"
tasks = "qa1,qa2,qa3,qa4,qa5"
curriculum = "0k:1000,1k:1000,2k:2000,4k:4000"
n_layer = 6
n_head = 6
n_embd = 384
segment_len = 512
mem_slots = 16
batch_size = 32
