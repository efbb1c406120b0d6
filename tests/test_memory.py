"""memory.py computes LM2's equations regrouped (no d x d projection of the segment's tokens).
These tests write the equations literally, as in the paper, and require the same numbers and the
same gradients."""
import pytest
import torch
import torch.nn.functional as F

from memory import LM2Memory, merge_heads, split_heads


def attention(q, k, v, n_head):
    """Multi-head softmax(Q K^T / sqrt(d_head)) V on (B, L, d) inputs, no mask."""
    q, k, v = (split_heads(t, n_head) for t in (q, k, v))
    return merge_heads(F.scaled_dot_product_attention(q, k, v))


def literal_read(m, x, mem):
    """Eqs. 1-2: E_mem = Attn(X W_Q, M W_K, M W_V); E_gate = sigmoid(E_mem W_out) * E_mem."""
    k, v = m.read_kv(mem).chunk(2, dim=-1)
    e_mem = attention(m.read_q(x), k, v, m.n_head)
    return torch.sigmoid(m.out_gate(e_mem)) * e_mem


def literal_write(m, x, mem):
    """Eqs. 4-6 with U = Attn(M W_Q', X W_K', X W_V')."""
    k, v = m.write_kv(x).chunk(2, dim=-1)
    u = attention(m.write_q(mem), k, v, m.n_head)
    g_in, g_forget = m.gates(u).chunk(2, dim=-1)
    if m.input_bias is not None:  # the chrono-initialised option's input-gate bias
        g_in = g_in + m.input_bias
    return torch.sigmoid(g_in) * torch.tanh(u) + torch.sigmoid(g_forget + m.forget_bias) * mem


def random_memory(d=48, heads=4, seed=0, chrono=0):
    torch.manual_seed(seed)
    m = LM2Memory(d, heads, forget_bias=1.0, chrono=chrono).double()
    for p in m.parameters():  # larger than the init, so that the attention is far from uniform
        torch.nn.init.normal_(p, std=0.3)
    return m


@pytest.mark.parametrize("step,chrono", [("read", 0), ("write", 0), ("write", 16)])
@pytest.mark.parametrize("S,N", [(1, 4), (13, 4), (40, 16)])
def test_regrouped_equations_equal_the_literal_ones(step, chrono, S, N):
    m = random_memory(chrono=chrono)
    x = torch.randn(3, S, 48, dtype=torch.float64, requires_grad=True)
    mem = torch.randn(3, N, 48, dtype=torch.float64, requires_grad=True)
    ours, literal = (m.read, literal_read) if step == "read" else (m.write, literal_write)
    out, expected = ours(x, mem), literal(m, x, mem)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)
    weights = torch.randn_like(out)  # one random direction checks every gradient
    params = [x, mem, *m.parameters()]
    grads = torch.autograd.grad((out * weights).sum(), params, allow_unused=True)
    expected_grads = torch.autograd.grad((expected * weights).sum(), params, allow_unused=True)
    for name, g, e in zip(["x", "mem", *dict(m.named_parameters())], grads, expected_grads):
        if e is None:
            assert g is None or not g.any(), name
        else:
            torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-9, msg=name)


@pytest.mark.parametrize("step", ["read", "write"])
def test_regrouped_equations_lose_no_precision_in_bf16(step):
    """Under bf16 autocast (the GPU training path) the regrouped form is as close to the float64
    truth as the literal form is."""
    m = random_memory(seed=1)
    x, mem = torch.randn(4, 64, 48, dtype=torch.float64), torch.randn(4, 16, 48, dtype=torch.float64)
    ours, literal = (m.read, literal_read) if step == "read" else (m.write, literal_write)
    truth = literal(m, x, mem)
    m.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        errors = [(f(x.float(), mem.float()).double() - truth).abs().mean().item()
                  for f in (ours, lambda *a: literal(m, *a))]
    assert errors[0] <= 1.5 * errors[1], errors


def test_write_attention_is_each_slots_distribution_and_its_sharpness_scales_with_the_memory():
    """write_attention is what write gathers with: one distribution over the segment per slot and
    head. Its scores are linear in M, so slots near zero write the segment's plain average (the
    identity initial memory is small beside the RMS-normalised tokens: experiments/README.md,
    *The first segment's write*)."""
    m = random_memory()
    x, mem = torch.randn(2, 10, 48, dtype=torch.float64), torch.randn(2, 4, 48, dtype=torch.float64)
    p = m.write_attention(x, mem)
    assert p.shape == (2, m.n_head * 4, 10)
    torch.testing.assert_close(p.sum(-1), torch.ones(2, m.n_head * 4, dtype=torch.float64))
    entropy = lambda q: -(q * q.log()).sum(-1).mean()  # noqa: E731
    assert entropy(m.write_attention(x, 10 * mem)) < entropy(p) < entropy(m.write_attention(x, mem / 10))
    torch.testing.assert_close(m.write_attention(x, 0 * mem), torch.full_like(p, 1 / 10))
