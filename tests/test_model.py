"""The model's contract: configuration checks, causality, the memory carried between segments,
truncated back-propagation, batch independence and cached generation."""
import math

import pytest
import torch

from model import LM, ModelConfig

KINDS = ["none", "lm2", "rmt"]
S = 8  # tokens per segment in these tests


def tiny(memory, **overrides):
    torch.manual_seed(0)
    cfg = dict(vocab_size=97, n_layer=2, n_head=2, n_embd=32, segment_len=S, memory=memory,
               mem_slots=4, mem_heads=2)
    cfg.update(overrides)
    model = LM(ModelConfig(**cfg))
    if memory == "lm2":  # a trained-looking memory: random gates, not the near-uniform init
        for block in model.blocks:
            for p in block.memory.parameters() if block.memory is not None else []:
                torch.nn.init.normal_(p, std=0.3)
    return model.eval()


def tokens(B, L, seed=1):
    return torch.randint(0, 97, (B, L), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("field, value, message", [
    ("memory", "gru", "memory='gru'"),
    ("n_head", 5, "n_head=5"),
    ("mem_slots", 64, "mem_slots=64"),
    ("mem_heads", 3, "mem_heads=3"),
    ("mem_layers", 3, "mem_layers=3"),
    ("segment_len", 0, "segment_len=0"),
    ("dropout", 1.0, "dropout=1.0"),
    ("conv_width", -1, "conv_width=-1"),
])
def test_invalid_config_names_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**dict(n_layer=2, n_head=4, n_embd=32, memory="lm2"), field: value})


def test_segment_longer_than_window_is_rejected():
    with pytest.raises(ValueError, match="segment_len=8"):
        tiny("lm2")(tokens(1, S + 1))


def test_initial_state_shapes_and_identity():
    assert tiny("none").init_state(3) is None
    state = tiny("lm2").init_state(3)
    assert state.shape == (3, 2, 4, 32)
    assert torch.equal(state[2, 1], torch.eye(4, 32))
    assert tiny("rmt").init_state(3).shape == (3, 4, 32)
    assert tiny("lm2", mem_layers=1).init_state(1).shape == (1, 1, 4, 32)


def test_forget_gate_starts_positive():
    model = LM(ModelConfig(n_layer=2, n_head=2, n_embd=32, memory="lm2", mem_forget_bias=1.5))
    assert all(torch.all(b.memory.forget_bias == 1.5) for b in model.blocks)


def test_chrono_init_spreads_time_scales_and_opens_the_input_gate_as_much_as_it_forgets():
    """mem_chrono=T: forget bias log(T_j), T_j ~ U(1, T - 1) segments, and input bias -log(T_j):
    dimension j keeps 1 - 1/T_j of M and writes 1/T_j of U (Tallec & Ollivier 2018)."""
    model = LM(ModelConfig(n_layer=2, n_head=2, n_embd=256, memory="lm2", mem_chrono=16))
    for block in model.blocks:
        fb = block.memory.forget_bias
        assert 0 <= fb.min() and fb.max() <= math.log(15) and fb.std() > 0.3
        assert torch.equal(block.memory.input_bias, -fb)
        assert block.memory.input_bias.data_ptr() != fb.data_ptr()  # a parameter of its own
    assert tiny("lm2").blocks[0].memory.input_bias is None  # the paper's gates: no input bias
    with pytest.raises(ValueError, match=r"ModelConfig.mem_chrono=2: must be 0 \(off\) or at least 3"):
        ModelConfig(memory="lm2", mem_chrono=2)


def test_init_std_sets_the_linear_layers_and_not_the_embedding():
    """init_std scales every linear layer (residual projections by 1/sqrt(2 n_layer)); the tied
    embedding and RMT's memory embeddings keep GPT-2's 0.02."""
    for memory in ("lm2", "rmt"):
        model = LM(ModelConfig(n_layer=2, n_head=4, n_embd=256, memory=memory, init_std=0.1))
        stds = {name: p.std().item() for name, p in model.named_parameters() if p.dim() == 2}
        for name, std in stds.items():
            expected = (0.02 if name in ("wte.weight", "rmt.init_memory")
                        else 0.05 if name.endswith(("proj.weight", "down.weight")) else 0.1)
            assert abs(std - expected) < 0.1 * expected, (name, std)


def test_param_counts_with_and_without_memory():
    vanilla, lm2 = tiny("none"), tiny("lm2")
    assert lm2.num_params(include_memory=False) == vanilla.num_params()
    # per block: read q, kv (3 d^2), out gate (d^2), write q, kv (3 d^2), gates (2 d^2), bias (d)
    assert lm2.num_params() - vanilla.num_params() == 2 * (9 * 32 * 32 + 32)


@pytest.mark.parametrize("conv_width", [0, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_causal_inside_a_segment(kind, conv_width):
    model, idx = tiny(kind, conv_width=conv_width), tokens(2, S)
    state = model.init_state(2)
    logits, _, _ = model(idx, state)
    for j in (3, S - 1):
        changed = idx.clone()
        changed[:, j] = (changed[:, j] + 1) % 97
        logits2, _, _ = model(changed, state)
        assert torch.allclose(logits[:, :j], logits2[:, :j], atol=1e-5)
        assert not torch.allclose(logits[:, j], logits2[:, j], atol=1e-5)


@pytest.mark.parametrize("conv_width", [0, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_memory_carries_the_past_and_never_the_future(kind, conv_width):
    model, idx = tiny(kind, conv_width=conv_width), tokens(2, 3 * S)
    logits, _, _ = model.forward_long(idx)
    later = idx.clone()
    later[:, 2 * S:] = tokens(2, S, seed=7)  # change segment 2 only
    logits_later, _, _ = model.forward_long(later)
    assert torch.allclose(logits[:, :2 * S], logits_later[:, :2 * S], atol=1e-5)
    earlier = idx.clone()
    earlier[:, :S] = tokens(2, S, seed=7)  # change segment 0 only
    logits_earlier, _, _ = model.forward_long(earlier)
    segment1_moved = not torch.allclose(logits[:, S:2 * S], logits_earlier[:, S:2 * S], atol=1e-5)
    assert segment1_moved == (kind != "none")


@pytest.mark.parametrize("kind", KINDS)
def test_forward_long_is_a_loop_over_forward(kind):
    model, idx = tiny(kind), tokens(2, 2 * S + 3)
    targets = tokens(2, 2 * S + 3, seed=2)
    mask = torch.rand(2, 2 * S + 3, generator=torch.Generator().manual_seed(3)) < 0.4
    logits, loss, state = model.forward_long(idx, targets=targets, loss_mask=mask)
    manual_state, manual_logits, total, count = None, [], 0.0, 0
    for start in range(0, idx.size(1), S):
        seg = slice(start, start + S)
        seg_logits, seg_loss, manual_state = model(idx[:, seg], manual_state, targets[:, seg],
                                                   mask[:, seg])
        manual_logits.append(seg_logits)
        total, count = total + seg_loss * mask[:, seg].sum(), count + mask[:, seg].sum()
    assert torch.allclose(logits, torch.cat(manual_logits), atol=1e-5)
    assert torch.allclose(loss, total / count, atol=1e-6)
    if kind == "none":
        assert state is None and manual_state is None
    else:
        assert torch.allclose(state, manual_state, atol=1e-5)
    full_logits, _, _ = model.forward_long(idx)
    assert full_logits.shape == (2, 2 * S + 3, 97)
    in_segment_order = torch.cat([full_logits[:, s:s + S][mask[:, s:s + S]]
                                  for s in range(0, idx.size(1), S)])
    assert torch.allclose(in_segment_order, logits, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_shorter_segments_on_request_equal_a_model_built_with_them(kind):
    """forward_long(segment_len=s) (a curriculum stage's "%s") is the same weights run as a model
    whose own segments are s tokens long; longer than the model's own is refused."""
    model, short = tiny(kind), tiny(kind, segment_len=S // 2)
    short.load_state_dict(model.state_dict())
    idx, targets = tokens(2, 2 * S + 3), tokens(2, 2 * S + 3, seed=2)
    logits, loss, state = model.forward_long(idx, targets=targets, segment_len=S // 2)
    expected = short.forward_long(idx, targets=targets)
    assert torch.allclose(logits, expected[0], atol=1e-5) and torch.allclose(loss, expected[1])
    assert state is None if kind == "none" else torch.allclose(state, expected[2], atol=1e-5)
    assert not torch.allclose(logits, model.forward_long(idx, targets=targets)[0], atol=1e-3)
    with pytest.raises(ValueError, match="segment_len=9: must be between 1 and the model's "
                                         "segment_len=8"):
        model.forward_long(idx, segment_len=S + 1)


@pytest.mark.parametrize("kind", ["lm2", "rmt"])
def test_bptt_truncation(kind):
    model = tiny(kind).train()
    idx = tokens(2, 3 * S)
    mask = torch.zeros_like(idx, dtype=torch.bool)
    mask[:, -1] = True  # loss on the last segment only
    embeddings = []
    def keep(module, inputs, out):
        out.retain_grad()
        embeddings.append(out)
    hook = model.wte.register_forward_hook(keep)
    grads = {}
    for bptt in (1, -1):
        embeddings.clear()
        model.zero_grad()
        _, loss, _ = model.forward_long(idx, targets=tokens(2, 3 * S, seed=5), loss_mask=mask, bptt=bptt)
        loss.backward()
        grads[bptt] = [e.grad for e in embeddings]
    hook.remove()
    assert all(g is None or torch.count_nonzero(g) == 0 for g in grads[1][:2])
    assert torch.count_nonzero(grads[1][2]) > 0
    assert all(torch.count_nonzero(g) > 0 for g in grads[-1])


@pytest.mark.parametrize("kind", KINDS)
def test_samples_in_a_batch_are_independent(kind):
    model, idx = tiny(kind), tokens(3, 2 * S + 2)
    logits, _, state = model.forward_long(idx)
    other = idx.clone()
    other[1:] = tokens(2, 2 * S + 2, seed=9)
    logits2, _, state2 = model.forward_long(other)
    assert torch.allclose(logits[0], logits2[0], atol=1e-5)
    assert state is None or torch.allclose(state[0], state2[0], atol=1e-5)
    alone, _, state_alone = model.forward_long(idx[:1])
    assert torch.allclose(logits[:1], alone, atol=1e-5)
    assert state is None or torch.allclose(state[:1], state_alone, atol=1e-5)


def test_lm2_without_memory_is_the_vanilla_model():
    vanilla, idx = tiny("none"), tokens(2, 2 * S)
    no_memory = tiny("lm2", mem_layers=0)
    no_memory.load_state_dict(vanilla.state_dict())
    assert no_memory.init_state(2) is None
    assert torch.equal(no_memory.forward_long(idx)[0], vanilla.forward_long(idx)[0])
    # Same backbone with memory whose read values are zero: the memory adds exactly nothing.
    lm2 = tiny("lm2")
    lm2.load_state_dict(vanilla.state_dict(), strict=False)
    for block in lm2.blocks:
        block.memory.read_kv.weight.data[32:] = 0
    assert torch.allclose(lm2.forward_long(idx)[0], vanilla.forward_long(idx)[0], atol=1e-6)


@pytest.mark.parametrize("conv_width", [0, 3])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prompt_len", [3, S, 2 * S + 5])
def test_cached_greedy_generation_equals_forward_long(kind, prompt_len, conv_width):
    model = tiny(kind, conv_width=conv_width)
    idx = tokens(2, prompt_len)
    out = model.generate(idx, max_new_tokens=2 * S, temperature=0)
    expected = idx
    for _ in range(2 * S):  # no cache: rerun everything and take the last argmax
        logits, _, _ = model.forward_long(expected)
        expected = torch.cat([expected, logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_short_conv_skips_the_padding_of_batched_greedy_rows(kind):
    """generate_greedy pads shorter prompts at their ends; while decoding, the convolution must
    read each row's own last tokens, not its padding (the cache keeps the inputs per row)."""
    model = tiny(kind, conv_width=3, segment_len=2 * S, init_std=0.3)
    prompts = [tokens(1, n, seed=n)[0] for n in (3, 5, 6, 7, 9, 19, 20, 22)]
    one_at_a_time = [model.generate(p[None], 6, temperature=0)[0, len(p):].tolist()
                     for p in prompts]
    assert model.generate_greedy(prompts, 6) == one_at_a_time


def test_generation_stops_at_stop_token_and_respects_state():
    model = tiny("lm2")
    idx = tokens(1, 5)
    greedy = model.generate(idx, max_new_tokens=6, temperature=0)
    stop = int(greedy[0, 7])
    first = 5 + greedy[0, 5:].tolist().index(stop)
    stopped = model.generate(idx, max_new_tokens=6, temperature=0, stop_token=stop)
    assert torch.equal(stopped, greedy[:, :first + 1])
    other_state = model.init_state(1) * 2
    assert not torch.equal(model.generate(idx, 6, temperature=0, state=other_state), greedy)


def test_sampling_is_seeded_and_top_k_limits_choices():
    model = tiny("rmt")
    idx = tokens(4, 3)
    torch.manual_seed(0)
    a = model.generate(idx, 10, temperature=1.0, top_k=1)
    assert torch.equal(a, model.generate(idx, 10, temperature=0))  # top-1 sampling is greedy
    torch.manual_seed(0)
    b = model.generate(idx, 10, temperature=2.0)
    torch.manual_seed(0)
    assert torch.equal(b, model.generate(idx, 10, temperature=2.0))


@pytest.mark.parametrize("memory", ["none", "lm2", "rmt"])
@pytest.mark.parametrize("masked", [False, True])
def test_chunked_loss_equals_the_full_logits_loss(memory, masked, monkeypatch):
    """Training's loss (no logits kept, the head and loss in checkpointed chunks) has the value
    and the gradients of the loss over the full float32 logits, with and without a loss_mask."""
    import model as model_module
    monkeypatch.setattr(model_module, "CE_CHUNK", 7)  # several chunks, the last one partial
    torch.manual_seed(0)
    m = LM(ModelConfig(vocab_size=97, n_layer=2, n_head=2, n_embd=32, segment_len=8, memory=memory,
                       mem_slots=4, mem_heads=2))
    idx = torch.randint(0, 97, (3, 20))
    targets = torch.randint(0, 97, (3, 20))
    targets[0, -4:] = -1
    mask = torch.rand(3, 20) < 0.5 if masked else None
    results = []
    for return_logits in (True, False):
        m.zero_grad()
        logits, loss, _ = m.forward_long(idx, targets=targets, loss_mask=mask,
                                         return_logits=return_logits)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in m.parameters()], logits))
    (full, full_grads, logits), (chunked, chunked_grads, none) = results
    assert none is None and logits.size(-1) == 97
    assert torch.allclose(full, chunked, rtol=1e-5, atol=1e-6)
    for a, b in zip(full_grads, chunked_grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("memory, mem_layers", [("lm2", 1), ("rmt", -1)])  # lm2: both block kinds
def test_compiled_blocks_stop_recompiling_once_each_kind_of_input_is_seen(memory, mem_layers):
    """Training sees every batch size and segment length the bucketed batches make. The compiled
    blocks make one graph per kind of input (full, shorter and one-token segments, batch size 1,
    the first segment's memory, blocks with and without memory), then reuse them: new shapes add
    none, and the count stays under the limit past which dynamo would quietly run them eagerly."""
    graphs = []

    def counting_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    torch._dynamo.reset()
    model = tiny(memory, mem_layers=mem_layers).train()
    model.compile_blocks(backend=counting_backend)

    def train_step(B, L):
        idx = tokens(B, L, seed=B * 100 + L)
        model.forward_long(idx, targets=idx, return_logits=False)[1].backward()

    for B in (1, 2, 3):
        for L in (1, 5, S, S + 1, 3 * S + 4):
            train_step(B, L)
    seen = len(graphs)
    for B, L in [(4, 13), (7, 30), (2, 9), (5, 2), (6, 25), (1, 19), (8, 40)]:
        train_step(B, L)
    assert len(graphs) == seen
    assert seen < torch._dynamo.config.recompile_limit  # at the limit, new kinds run eagerly
    assert seen <= 16
    torch._dynamo.reset()
