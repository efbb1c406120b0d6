"""Training batches for train.py: BABILong samples and plain text, drawn epoch by epoch.

Unlike random offsets, an epoch visits every sample once in a seeded order, and the position in
that order is three integers, so a resumed run continues with exactly the batches it would have
drawn. Under DDP every rank walks the same order and takes its own slice of each global batch.

Length bucketing (BABILong): mixed-task batches padded to their longest row waste most of their
compute (qa3 runs to 630 tokens at 0k, the qa1-qa5 mean is 89). With `lengths` and `batch`
given, each epoch's permutation is cut into windows of BUCKET_WINDOW batches, each window is
sorted by length and cut into batches, and the batches are shuffled: a batch holds samples of
similar length while the epoch still visits each sample exactly once.
"""
import numpy as np
import torch

from data.babilong.tokenized import TokenizedSamples
from tokenizer import EOT


BUCKET_WINDOW = 32  # batches sorted together: larger pads less but mixes lengths less randomly


class EpochSampler:
    """Sample indices in a fresh seeded permutation each epoch; state = (seed, epoch, cursor).
    With `lengths` (one per sample) and `batch` (the global batch size, the only size `take`
    then accepts), consecutive `batch` indices are samples of similar length."""

    def __init__(self, n, seed, lengths=None, batch=None):
        if n == 0:
            raise ValueError("no training samples to draw from")
        if lengths is not None and (len(lengths) != n or batch is None or batch < 1):
            raise ValueError("length bucketing needs one length per sample and a batch size >= 1")
        self.n, self.seed, self.epoch, self.cursor = n, seed, 0, 0
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.batch = batch
        self._order = None

    def _permutation(self):
        if self._order is None:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).numpy()
            self._order = order if self.lengths is None else self._bucketed(order, g)
        return self._order

    def _bucketed(self, order, generator):
        """order rearranged so that every batch `take` returns is one bucket. Batches run on
        across epochs, so this epoch's first batch boundary sits `head` samples in: those finish
        the batch the last epoch began."""
        k = self.batch
        head = -self.epoch * self.n % k
        rest, window = order[head:], k * BUCKET_WINDOW
        full, tail = [], []
        for start in range(0, len(rest), window):
            chunk = rest[start:start + window]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            for b in range(0, len(chunk), k):
                (full if len(chunk) - b >= k else tail).append(chunk[b:b + k])
        shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
        return np.concatenate([order[:head], *shuffled, *tail])

    def take(self, k):
        if self.batch is not None and k != self.batch:
            raise ValueError(f"a length-bucketed sampler yields batches of {self.batch}, not {k}")
        out = []
        while len(out) < k:
            order = self._permutation()
            step = min(k - len(out), self.n - self.cursor)
            out.extend(order[self.cursor:self.cursor + step].tolist())
            self.cursor += step
            if self.cursor == self.n:
                self.epoch, self.cursor, self._order = self.epoch + 1, 0, None
        return out

    def state_dict(self):
        return {"seed": self.seed, "epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state):
        self.seed, self.epoch, self.cursor = state["seed"], state["epoch"], state["cursor"]
        self._order = None


def pad_batch(samples):
    """[(ids, loss_mask)] -> x, y, mask (B, L): inputs, next-token targets and the positions that
    carry loss. Every sample starts at position 0, so its segments line up with its first token as
    at evaluation; shorter samples are padded at the end (targets -1, no loss), which the causal
    model cannot see from the real tokens."""
    L = max(len(ids) for ids, _ in samples) - 1
    x = np.full((len(samples), L), EOT, dtype=np.int64)
    y = np.full((len(samples), L), -1, dtype=np.int64)
    mask = np.zeros((len(samples), L), dtype=bool)
    for row, (ids, loss_mask) in enumerate(samples):
        n = len(ids) - 1
        x[row, :n], y[row, :n], mask[row, :n] = ids[:-1], ids[1:], loss_mask[1:]
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)


class BabilongBatches:
    """Batches of one curriculum stage: the samples of all its tasks at one length, mixed.
    lm_loss=True puts the loss on every real token instead of the answer and end-of-text only.
    global_batch (batch size x processes) switches on length bucketing (see EpochSampler)."""

    def __init__(self, prefixes, seed, lm_loss=False, global_batch=None):
        self.sets = [TokenizedSamples(p) for p in prefixes]
        self.where = [(s, i) for s, ds in enumerate(self.sets) for i in range(len(ds))]
        lengths = np.concatenate([ds.lengths for ds in self.sets]) if global_batch else None
        self.sampler = EpochSampler(len(self.where), seed, lengths, global_batch)
        self.lm_loss = lm_loss

    def next(self, batch_size, rank=0, world_size=1):
        picks = self.sampler.take(batch_size * world_size)[rank * batch_size:(rank + 1) * batch_size]
        x, y, mask = pad_batch([self.sets[s][i] for s, i in (self.where[p] for p in picks)])
        return x, y, (y != -1) if self.lm_loss else mask


class TextBatches:
    """Non-overlapping windows of `window` + 1 tokens of a uint16 token file, in epoch order."""

    def __init__(self, path, window, seed):
        self.tokens = np.memmap(path, dtype=np.uint16, mode="r")
        self.window = window
        self.n_windows = (len(self.tokens) - 1) // window  # each needs one token beyond it
        if self.n_windows < 1:
            raise ValueError(f"{path}: {len(self.tokens)} tokens, fewer than one window of "
                             f"{window + 1}")
        self.sampler = EpochSampler(self.n_windows, seed)

    def windows(self, starts):
        chunks = [self.tokens[s * self.window:(s + 1) * self.window + 1].astype(np.int64)
                  for s in starts]
        xy = torch.from_numpy(np.stack(chunks))
        return xy[:, :-1], xy[:, 1:], None

    def next(self, batch_size, rank=0, world_size=1):
        picks = self.sampler.take(batch_size * world_size)
        return self.windows(picks[rank * batch_size:(rank + 1) * batch_size])
