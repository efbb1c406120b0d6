"""Length-bucketed training batches: similar lengths together, seeded, exactly resumable, every
sample once per epoch, the same order on every DDP rank."""
import numpy as np
import pytest

from data.batches import BabilongBatches, EpochSampler
from data.babilong.tokenized import write_tokenized

N, BATCH = 1003, 16  # an epoch that does not end on a batch boundary


def lengths(n=N, seed=0):
    return np.random.default_rng(seed).integers(10, 600, size=n)


def padding(batches, lens):
    """Share of a padded batch that is padding."""
    return 1 - sum(lens[b].sum() for b in batches) / sum(lens[b].max() * len(b) for b in batches)


def test_each_epoch_visits_every_sample_once_and_pads_far_less():
    lens = lengths()
    sampler = EpochSampler(N, seed=3, lengths=lens, batch=BATCH)
    batches = [sampler.take(BATCH) for _ in range(3 * N // BATCH + 1)]
    flat = np.concatenate(batches)
    for epoch in range(3):
        assert sorted(flat[epoch * N:(epoch + 1) * N].tolist()) == list(range(N))
    plain = EpochSampler(N, seed=3)
    unbucketed = [plain.take(BATCH) for _ in range(len(batches))]
    assert padding(batches, lens) < 0.1 < 0.3 < padding(unbucketed, lens)
    # in every epoch but the first, at most the one batch that straddles the epoch boundary mixes
    # two buckets: batches stay aligned with the buckets across epochs
    mixed = [b for b in batches if lens[b].max() - lens[b].min() > 100]
    assert len(mixed) <= 3


def test_seeded_and_resumable_exactly():
    lens = lengths()
    a = EpochSampler(N, seed=7, lengths=lens, batch=BATCH)
    b = EpochSampler(N, seed=7, lengths=lens, batch=BATCH)
    assert [a.take(BATCH).copy() for _ in range(10)] == [b.take(BATCH).copy() for _ in range(10)]
    for _ in range(57):  # into the second epoch
        a.take(BATCH)
    state = a.state_dict()
    expected = [a.take(BATCH) for _ in range(80)]
    resumed = EpochSampler(N, seed=0, lengths=lens, batch=BATCH)
    resumed.load_state_dict(state)
    assert [resumed.take(BATCH) for _ in range(80)] == expected
    other = EpochSampler(N, seed=8, lengths=lens, batch=BATCH)
    assert [other.take(BATCH) for _ in range(3)] != [b.take(BATCH) for _ in range(3)]


def test_only_its_batch_size_and_matching_lengths():
    sampler = EpochSampler(10, seed=0, lengths=np.arange(10), batch=4)
    with pytest.raises(ValueError, match="batches of 4, not 3"):
        sampler.take(3)
    with pytest.raises(ValueError, match="one length per sample"):
        EpochSampler(10, seed=0, lengths=np.arange(9), batch=4)


def test_ddp_ranks_split_one_bucketed_global_batch(tmp_path):
    records = [{"input": "Mary went to the office. " * k, "question": "Where is Mary? ",
                "target": "office"} for k in range(1, 41)]
    write_tokenized(records, tmp_path / "part", progress=False)
    ranks = [BabilongBatches([tmp_path / "part"], seed=1, global_batch=8) for _ in range(2)]
    single = BabilongBatches([tmp_path / "part"], seed=1, global_batch=8)
    for _ in range(12):
        x0, _, _ = ranks[0].next(4, rank=0, world_size=2)
        x1, _, _ = ranks[1].next(4, rank=1, world_size=2)
        x, _, _ = single.next(8)
        assert x[:4, :x0.size(1)].equal(x0) and x[4:, :x1.size(1)].equal(x1)
        assert x.size(1) - min(x0.size(1), x1.size(1)) <= 7 * 8  # similar lengths in one batch
