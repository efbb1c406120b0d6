"""bench.py: the three kinds in one run with their ratios, and the evaluation benchmark's check
that batched answers equal one-at-a-time ones."""
import bench

TINY = dict(bench.defaults, n_layer=1, n_head=2, n_embd=32, segment_len=16, mem_slots=4,
            mem_heads=2, n_segments=2, batch_size=2, steps=2, warmup_steps=0, device="cpu")


def test_all_kinds_in_one_run_with_ratios(capsys):
    speed = bench.main_all(dict(TINY, memory="all"))
    assert set(speed) == {"none", "lm2", "rmt"} and all(v > 0 for v in speed.values())
    out = capsys.readouterr().out
    assert f"LM2/vanilla {speed['lm2'] / speed['none']:.2f}x" in out and "RMT/vanilla" in out


def test_evaluation_benchmark_checks_identical_answers(capsys):
    seconds, same = bench.bench_eval(dict(TINY, what="eval", memory="lm2", batch_size=4,
                                          eval_tasks="qa1", eval_lengths="0k", eval_samples=6))
    assert same and set(seconds) == {1, 4}
    assert "answers identical: True" in capsys.readouterr().out
