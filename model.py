"""A Llama-style decoder (RMSNorm, RoPE, SwiGLU, no biases, tied embeddings) that reads long inputs
segment by segment, with three kinds of memory carried between segments:

    "none"  the vanilla decoder: segments are independent windows
    "lm2"   LM2's gated memory bank in each of the first `mem_layers` blocks (memory.py)
    "rmt"   the Recurrent Memory Transformer's memory tokens

The memory state is explicit: `logits, loss, state = model(idx, state)` runs one segment and returns
the state after it; `forward_long` and `generate` carry it across segments.
"""
import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from generation import Generation
from memory import LM2Memory, RMTMemory, identity_memory, merge_heads, split_heads

MEMORY_KINDS = ("none", "lm2", "rmt")


@dataclass
class ModelConfig:
    vocab_size: int = 50304     # GPT-2's 50257 padded up to a multiple of 64
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    segment_len: int = 512      # tokens per segment = the self-attention window
    memory: str = "lm2"         # "none", "lm2" or "rmt"
    mem_slots: int = 16         # N: memory slots (lm2) or memory tokens (rmt)
    mem_heads: int = 4          # heads of the LM2 memory read and write
    mem_layers: int = -1        # LM2 memory in the first k blocks (the paper's ablation); -1 = all
    mem_forget_bias: float = 1.0  # initial forget-gate bias: sigmoid(1) = 0.73 of M is kept
    mem_chrono: int = 0         # > 0: chrono-initialised gate biases instead (memory.LM2Memory),
                                # time scales of 1 to mem_chrono segments; adds an input-gate bias
    conv_width: int = 0         # a short causal convolution in every block (ShortConv); 0 = off
    dropout: float = 0.0
    rope_theta: float = 10000.0
    init_std: float = 0.02      # std of every linear layer's initial weights (GPT-2: 0.02)

    def __post_init__(self):
        def check(ok, name, why):
            if not ok:
                raise ValueError(f"ModelConfig.{name}={getattr(self, name)!r}: {why}")
        check(self.memory in MEMORY_KINDS, "memory", f"must be one of {MEMORY_KINDS}")
        for name in ("vocab_size", "n_layer", "n_head", "n_embd", "segment_len"):
            check(getattr(self, name) >= 1, name, "must be at least 1")
        check(self.n_embd % self.n_head == 0, "n_head", f"must divide n_embd={self.n_embd}")
        check((self.n_embd // self.n_head) % 2 == 0, "n_head",
              "n_embd // n_head must be even for rotary embeddings")
        check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        check(self.init_std > 0, "init_std", "must be positive")
        check(0 <= self.conv_width <= self.segment_len, "conv_width",
              f"must be 0 (off) or between 1 and segment_len={self.segment_len}")
        if self.memory != "none":
            check(self.mem_slots >= 1, "mem_slots", f"must be at least 1 for memory={self.memory!r}")
        if self.memory == "lm2":
            check(self.mem_slots <= self.n_embd, "mem_slots",
                  f"the identity initial memory needs mem_slots <= n_embd={self.n_embd}")
            check(self.mem_heads >= 1 and self.n_embd % self.mem_heads == 0, "mem_heads",
                  f"must be at least 1 and divide n_embd={self.n_embd}")
            check(-1 <= self.mem_layers <= self.n_layer, "mem_layers",
                  f"must be -1 (all blocks) or between 0 and n_layer={self.n_layer}")
            check(self.mem_chrono == 0 or self.mem_chrono >= 3, "mem_chrono",
                  "must be 0 (off) or at least 3 segments")

    @property
    def n_memory_blocks(self):
        if self.memory != "lm2":
            return 0
        return self.n_layer if self.mem_layers == -1 else self.mem_layers

    @classmethod
    def from_dict(cls, d):
        """The ModelConfig fields found in a (larger) config dict, e.g. train.py's."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x, (x.size(-1),), self.weight, eps=1e-6)


def rotary_tables(n_pos, head_dim, theta):
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(n_pos, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x, cos, sin):
    """x (B, H, T, dh); cos, sin (T, dh/2): rotate the two halves of each head as complex pairs."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.to(x.dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(self, x, cos, sin, cache=None):
        T = x.size(1)
        q, k, v = (split_heads(t, self.n_head) for t in self.qkv(x).chunk(3, dim=-1))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        past = 0 if cache is None else len(cache)
        if cache is not None:
            k, v = cache.append(k, v)
        dropout = self.dropout if self.training else 0.0
        if past == 0 or T == 1:  # a fresh segment, or one new token that may see everything cached
            mask = None if past == 0 or cache.valid is None else cache.valid[:, None, None, :]
            y = F.scaled_dot_product_attention(q, k, v, is_causal=past == 0, attn_mask=mask,
                                               dropout_p=dropout)
        else:  # several new tokens after cached ones: causal mask shifted by `past`
            allowed = (torch.arange(k.size(2), device=x.device)[None, :]
                       <= torch.arange(past, past + T, device=x.device)[:, None])
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)
        return self.proj(merge_heads(y))


class ShortConv(nn.Module):
    """A causal depthwise convolution over the last `width` positions, added to a block's normed
    input (Allen-Zhu 2025's "Canon layers"; Olsson et al. 2022's "smeared keys"). It hands each
    token its neighbours' features directly, so a lookup such as "the value after key k" takes
    one attention step instead of a previous-token head first (experiments/README.md: *Short
    convolutions*).
    Within a segment only, like self-attention; while decoding, the cache holds the inputs."""

    def __init__(self, n_embd, width):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_embd, 1, width))
        nn.init.uniform_(self.weight, -width ** -0.5, width ** -0.5)  # nn.Conv1d's default

    def forward(self, x, cache=None):
        width = self.weight.size(-1)
        past = x.new_zeros(x.size(0), width - 1, x.size(-1)) if cache is None else \
            cache.conv_history(x, width - 1)
        window = torch.cat([past, x], dim=1).transpose(1, 2)          # (B, d, width - 1 + T)
        y = F.conv1d(window, self.weight.to(x.dtype), groups=x.size(-1))
        return x + y.transpose(1, 2)


class SwiGLU(nn.Module):
    def __init__(self, config):
        super().__init__()
        hidden = 64 * math.ceil(8 * config.n_embd / 3 / 64)  # Llama's 8/3 d, rounded up
        self.gate_up = nn.Linear(config.n_embd, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.dropout(self.down(F.silu(gate) * up))


class Block(nn.Module):
    def __init__(self, config, has_memory):
        super().__init__()
        self.norm_attn = RMSNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.norm_mlp = RMSNorm(config.n_embd)
        self.mlp = SwiGLU(config)
        self.memory = (LM2Memory(config.n_embd, config.mem_heads, config.mem_forget_bias,
                                 config.dropout, config.mem_chrono) if has_memory else None)
        self.conv = ShortConv(config.n_embd, config.conv_width) if config.conv_width else None

    def forward(self, h, cos, sin, mem=None, cache=None):
        """Returns the block output and this block's memory after the segment (None while
        generating with a cache: the segment is unfinished, so memory is not written yet)."""
        x = self.norm_attn(h)
        if self.conv is not None:
            x = self.conv(x, cache)
        out = h + self.attn(x, cos, sin, cache)
        if self.memory is not None:
            out = out + self.memory.read(x, mem)            # Eq. 3: E_attn + E_gate
            mem = self.memory.write(x, mem) if cache is None else None
        return out + self.mlp(self.norm_mlp(out)), mem


class LM(Generation, nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, has_memory=i < config.n_memory_blocks)
                                    for i in range(config.n_layer))
        self.norm_f = RMSNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # tied input and output embeddings
        self.rmt = RMTMemory(config.mem_slots, config.n_embd) if config.memory == "rmt" else None
        n_pos = config.segment_len + (2 * config.mem_slots if self.rmt is not None else 0)
        cos, sin = rotary_tables(n_pos, config.n_embd // config.n_head, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2 and name != "wte.weight":  # (the embedding is the head's weight)
                # GPT-2's init, residual projections scaled down by depth
                residual = name.endswith(("attn.proj.weight", "mlp.down.weight"))
                nn.init.normal_(p, std=config.init_std / math.sqrt(2 * config.n_layer if residual else 1))
        nn.init.normal_(self.wte.weight, std=0.02)
        if self.rmt is not None:  # RMT's memory embeddings start like token embeddings
            nn.init.normal_(self.rmt.init_memory, std=0.02)

    def num_params(self, include_memory=True):
        """Parameter count (tied embeddings once); include_memory=False gives the backbone alone."""
        n = sum(p.numel() for p in self.parameters())
        if not include_memory:
            n -= sum(p.numel() for m in self.modules() if isinstance(m, (LM2Memory, RMTMemory))
                     for p in m.parameters())
        return n

    def compile_blocks(self, backend="inductor"):
        """torch.compile each block (train.py and bench.py, on CUDA). The blocks share their
        graphs across layers and segments, one per kind of input: a full segment, shorter ones
        (a sample's last, the bucketed batches' lengths: dynamic after the first change), a
        one-token segment, batch size 1, the first segment's memory (it needs no gradient),
        blocks without memory (`mem_layers`). LM2 meets dynamo's default limit of 8 graphs,
        past which it would silently run the blocks eagerly, so the limit is raised; the count
        stays bounded (tests/test_model.py)."""
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        for block in self.blocks:
            block.compile(backend=backend)

    def init_state(self, batch_size, device=None):
        """The memory before the first segment: (B, n_memory_blocks, N, d) for lm2, (B, N, d) for
        rmt, None for none."""
        if self.rmt is not None:
            return self.rmt.init_state(batch_size, device)
        c = self.config
        if c.n_memory_blocks == 0:
            return None
        return identity_memory(batch_size, c.n_memory_blocks, c.mem_slots, c.n_embd, device)

    def hidden(self, idx, state, caches=None, positions=None):
        """One segment (or, with caches, the next tokens of one) -> final-norm hidden states of its
        tokens (B, T, d) and the state after the segment (None when caching). positions (B, T):
        each row's rotary positions, when rows are not at the same place in their segments."""
        T = idx.size(1)
        past = 0 if caches is None else len(caches[0])
        h = self.drop(self.wte(idx))
        if self.rmt is not None:
            if caches is None:
                h = self.rmt.wrap(h, state)
            elif past == 0:  # while generating, the trailing write copy is not there yet
                h = torch.cat([state.to(h.dtype), h], dim=1)
        if positions is None:
            cos = self.rope_cos[past:past + h.size(1)]
            sin = self.rope_sin[past:past + h.size(1)]
        else:  # (B, 1, T, dh/2): broadcast over the heads
            cos, sin = self.rope_cos[positions][:, None], self.rope_sin[positions][:, None]
        memories = []
        for i, block in enumerate(self.blocks):
            mem = state[:, i] if block.memory is not None else None
            h, mem = block(h, cos, sin, mem, None if caches is None else caches[i])
            memories.append(mem)
        if self.rmt is not None:
            if caches is None:
                h, state = self.rmt.unwrap(h, T)
            else:
                h, state = h[:, -T:], None
        elif self.config.n_memory_blocks > 0:
            state = torch.stack(memories[:self.config.n_memory_blocks], dim=1) if caches is None else None
        return self.norm_f(h), state

    def _loss_terms(self, h, targets, loss_mask, return_logits=True):
        """Logits where the loss is taken (None unless return_logits), the summed cross-entropy
        and the number of terms. With a loss_mask only the masked positions go through the
        50k-wide head. Without return_logits the head and the loss run chunk by chunk and each
        chunk's logits are recomputed in the backward pass, so the float32 logits of all
        positions never exist at once (training needs only the loss)."""
        if loss_mask is not None:
            h, targets = h[loss_mask], targets[loss_mask]
        n = (targets != -1).sum()
        rows, targets = h.reshape(-1, h.size(-1)), targets.reshape(-1)
        if not return_logits:
            return None, chunked_cross_entropy(rows, self.lm_head.weight, targets), n
        logits = self.lm_head(h)
        flat = logits.reshape(-1, logits.size(-1))
        return logits, head_cross_entropy(rows, self.lm_head.weight, targets, flat), n

    def forward(self, idx, state=None, targets=None, loss_mask=None, return_logits=True):
        """One segment. idx (B, T), T <= segment_len. Returns (logits, loss, state): logits (B, T, V)
        or, with targets, (K, V) at the K loss positions in row-major order (all positions without
        a loss_mask), or None with return_logits=False (training: the loss alone, in less memory);
        loss the mean cross-entropy over the masked positions (targets of -1 ignored)."""
        B, T = idx.shape
        if T > self.config.segment_len:
            raise ValueError(f"segment of {T} tokens exceeds segment_len="
                             f"{self.config.segment_len}; use forward_long for longer inputs")
        if state is None:
            state = self.init_state(B, idx.device)
        h, state = self.hidden(idx, state)
        if targets is None:
            return self.lm_head(h), None, state
        logits, loss_sum, n = self._loss_terms(h, targets, loss_mask, return_logits)
        return logits, loss_sum / n.clamp(min=1), state

    def forward_long(self, idx, state=None, targets=None, loss_mask=None, bptt=-1,
                     return_logits=True, segment_len=None):
        """An input of any length, segment by segment from its first token, memory carried along.
        bptt=k detaches the state every k segments, so gradients reach back at most k segments
        (-1: all the way). segment_len: shorter segments than the model's (a curriculum stage's
        "%segment"). Logits are concatenated along time, or, with a loss_mask, along the K
        masked positions in segment order (None with return_logits=False). The loss is the mean
        over all masked positions."""
        B, L = idx.shape
        S = segment_len or self.config.segment_len
        if not 1 <= S <= self.config.segment_len:
            raise ValueError(f"segment_len={S}: must be between 1 and the model's "
                             f"segment_len={self.config.segment_len}")
        if state is None:
            state = self.init_state(B, idx.device)
        all_logits, loss_sum, n = [], 0.0, 0
        for s, start in enumerate(range(0, L, S)):
            if bptt > 0 and s > 0 and s % bptt == 0 and state is not None:
                state = state.detach()
            h, state = self.hidden(idx[:, start:start + S], state)
            if targets is None:
                all_logits.append(self.lm_head(h))
                continue
            m = None if loss_mask is None else loss_mask[:, start:start + S]
            logits, seg_sum, seg_n = self._loss_terms(h, targets[:, start:start + S], m,
                                                      return_logits)
            all_logits.append(logits)
            loss_sum, n = loss_sum + seg_sum, n + seg_n
        if targets is not None and not return_logits:
            logits = None
        else:  # along time, or along the masked positions segment after segment
            logits = torch.cat(all_logits, dim=0 if loss_mask is not None and targets is not None
                               else 1)
        loss = None if targets is None else loss_sum / n.clamp(min=1)
        return logits, loss, state

    def flops_per_token(self):
        """Training FLOPs per token (forward + backward = 3 x forward, 2 FLOPs per multiply-add),
        counting attention over the full window (PaLM's convention), the memory modules and the
        head. Used for MFU."""
        c = self.config
        d, S, N = c.n_embd, c.segment_len, c.mem_slots
        hidden = self.blocks[0].mlp.down.in_features
        ctx = S + (2 * N if self.rmt is not None else 0)
        per_block = 4 * d * d + 3 * d * hidden + 2 * ctx * d  # qkv + proj, SwiGLU, attention
        per_block += c.conv_width * d                          # the short convolution, if any
        if self.rmt is not None:  # every block also processes the 2N memory positions
            per_block = per_block * ctx / S
        # LM2 as memory.py computes it (no d x d product per token): per token, the read's scores
        # and gate input over H*N slot rows and E_mem over N; per segment (shared by its S
        # tokens), the slot-side projections (9 N d^2) and the write's attention (2 H N S d).
        H = c.mem_heads
        lm2 = 2 * H * N * d + N * d + (9 * N * d * d + 2 * H * N * S * d) / S
        macs = c.n_layer * per_block + c.n_memory_blocks * lm2 + d * c.vocab_size
        return 6 * macs


CE_CHUNK = 4096  # rows of the head and loss computed at once when the logits are not returned


def head_cross_entropy(h, weight, targets, logits=None):
    """Summed cross-entropy of the head's logits h @ weight.T (float32) against targets, -1
    ignored."""
    logits = F.linear(h, weight) if logits is None else logits
    return F.cross_entropy(logits.float(), targets, ignore_index=-1, reduction="sum")


def chunked_cross_entropy(h, weight, targets):
    """head_cross_entropy over CE_CHUNK rows at a time, each chunk's logits recomputed in the
    backward pass (activation checkpointing): at most CE_CHUNK x vocab logits exist at once."""
    total = h.new_zeros((), dtype=torch.float32)
    for start in range(0, len(h), CE_CHUNK):
        total = total + checkpoint(head_cross_entropy, h[start:start + CE_CHUNK], weight,
                                   targets[start:start + CE_CHUNK], use_reentrant=False)
    return total


# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets, for MFU. Matched in order
# against torch.cuda.get_device_name(), so the more specific names come first.
PEAK_BF16_FLOPS = [
    ("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12),
    ("B200", 2250e12), ("A100", 312e12), ("A800", 312e12), ("L40S", 362e12), ("L40", 181e12),
    ("L4", 121e12), ("A10G", 70e12), ("A10", 125e12), ("RTX 4090", 165e12), ("RTX 3090", 71e12),
    ("V100", 125e12), ("T4", 65e12),
]


def peak_flops(device_name):
    """The card's bf16 peak, or None when the name is not in the table (MFU is then not shown)."""
    for key, flops in PEAK_BF16_FLOPS:
        if key in device_name:
            return flops
    return None
