"""End-to-end proof that the memory path learns: a seeded synthetic recall task.

The task. Each sample is two segments of S = 4 tokens (segment_len = 4), vocabulary of
8 keys, 8 values and 4 filler tokens:

    segment 1:  a fact "k v" (key k, value v, both uniform) at a random even offset, rest filler
                e.g.  [f, f, k3, v5]   or   [k3, v5, f, f]
    segment 2:  three filler tokens, then the query key:  [f, f, f, k3]
    target:     the value v5, predicted at the query position (the only loss term)

The value appears only in segment 1, and segment 2 is an independent window for the vanilla
model, so without memory the best possible accuracy is chance (1/8). With memory ("lm2", "rmt")
the value must be written into the state at the end of segment 1 and read back in segment 2.

Limits, stated honestly: one fact per sample, so the key is queried but does not have to be
looked up (the memory only has to carry the one value across the segment boundary). With two
facts per sample both memories plateau at "knows the values, cannot bind them to their keys"
(~57% with two queries) for far more steps than a unit test can afford on CPU.

Training: tiny Llama-style models (2 layers, d = 64, 4 heads, 2 memory slots/tokens), AdamW
lr 1e-3, batch 128, one CPU thread, everything seeded. Every EVAL_EVERY steps the accuracy on a
fixed held-out batch of 512 is measured and training stops once it reaches TARGET, capped at
MAX_STEPS. Observed (seed 0 is the one tested): rmt leaves a plateau at chance after a
seed-dependent number of steps: 75 (seed 0), 225, 150, 100, 50 for seeds 1-4, but seed 5 was
still at chance at 600 steps, so the seed is pinned rather than a property of every seed.
"""
import pytest
import torch

from model import LM, ModelConfig

N_KEYS, N_VALUES, N_FILL = 8, 8, 4
KEY0, VALUE0, FILL0 = 0, N_KEYS, N_KEYS + N_VALUES
VOCAB = N_KEYS + N_VALUES + N_FILL
S = 4                       # tokens per segment
CHANCE = 1 / N_VALUES
TARGET = 0.9
BATCH, EVAL_BATCH, EVAL_EVERY = 128, 512, 25
MAX_STEPS = 600             # memory models need ~75 (lm2) and ~250 (rmt)
VANILLA_STEPS = 300


def recall_batch(batch_size, generator):
    """(idx, targets): idx (B, 2S) token ids, targets (B, 2S) = -1 except the value at the query."""
    rows = torch.arange(batch_size)
    keys = torch.randint(0, N_KEYS, (batch_size,), generator=generator)
    values = torch.randint(0, N_VALUES, (batch_size,), generator=generator)
    seg1 = torch.randint(FILL0, FILL0 + N_FILL, (batch_size, S), generator=generator)
    at = 2 * torch.randint(0, S // 2, (batch_size,), generator=generator)
    seg1[rows, at] = KEY0 + keys
    seg1[rows, at + 1] = VALUE0 + values
    seg2 = torch.randint(FILL0, FILL0 + N_FILL, (batch_size, S), generator=generator)
    seg2[:, -1] = KEY0 + keys
    idx = torch.cat([seg1, seg2], dim=1)
    targets = torch.full_like(idx, -1)
    targets[:, -1] = VALUE0 + values
    return idx, targets


def accuracy(model, idx, targets):
    model.eval()
    with torch.no_grad():
        mask = targets >= 0
        logits, _, _ = model.forward_long(idx, targets=targets, loss_mask=mask)
        acc = (logits.argmax(-1) == targets[mask]).float().mean().item()
    model.train()
    return acc


def train(memory, max_steps, seed=0, lr=1e-3, mem_slots=2, batch=BATCH):
    """Train a tiny model on the recall task; stop at TARGET held-out accuracy or max_steps.
    Returns (held-out accuracy, steps taken)."""
    torch.manual_seed(seed)
    model = LM(ModelConfig(vocab_size=VOCAB, n_layer=2, n_head=4, n_embd=64, segment_len=S,
                           memory=memory, mem_slots=mem_slots, mem_heads=4))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    data = torch.Generator().manual_seed(seed + 1)
    held_out = recall_batch(EVAL_BATCH, torch.Generator().manual_seed(12345))
    acc = accuracy(model, *held_out)
    for step in range(1, max_steps + 1):
        idx, targets = recall_batch(batch, data)
        _, loss, _ = model.forward_long(idx, targets=targets, loss_mask=targets >= 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % EVAL_EVERY == 0 or step == max_steps:
            acc = accuracy(model, *held_out)
            if acc >= TARGET:
                break
    return acc, step


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest, and does not fight other processes for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_recall_task_needs_the_first_segment():
    idx, targets = recall_batch(256, torch.Generator().manual_seed(0))
    answers = targets[:, -1]
    assert (targets[:, :-1] == -1).all()
    assert ((answers >= VALUE0) & (answers < FILL0)).all()
    assert (idx[:, S:] == answers[:, None]).sum() == 0        # the value is not in segment 2
    assert ((idx[:, :S] == answers[:, None]).sum(1) == 1).all()  # it is in segment 1, once
    at = (idx[:, :S] == answers[:, None]).int().argmax(1)
    assert (idx[torch.arange(256), at - 1] == idx[:, -1]).all()  # the queried key precedes it


@pytest.mark.parametrize("memory", ["lm2", "rmt"])
def test_memory_model_learns_recall(memory):
    acc, steps = train(memory, MAX_STEPS)
    assert acc >= TARGET, f"{memory}: held-out accuracy {acc:.3f} after {steps} steps"


def test_vanilla_model_stays_at_chance():
    acc, steps = train("none", VANILLA_STEPS)
    assert acc < 2 * CHANCE, f"none: held-out accuracy {acc:.3f} after {steps} steps"
