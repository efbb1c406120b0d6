"""The memory modules: LM2's gated memory bank (per decoder block) and the RMT baseline.

LM2 (Kang et al. 2025), in the causal segment-recurrent form of DESIGN.md section 2. For one
segment, with X = RMSNorm(block input) of shape (B, S, d) and M the block's memory (B, N, d):

    Eq. 1  E_mem  = softmax(Q K^T / sqrt(d_head)) V,  Q = X W_Q,  K = M W_K,  V = M W_V
    Eq. 2  E_gate = sigmoid(E_mem W_out) * E_mem          (the output gate, per token)
    Eq. 3  h      = h + SelfAttn(X) + E_gate              (in model.Block)
    Eq. 4  g_in   = sigmoid(U W_in)
    Eq. 5  g_fgt  = sigmoid(U W_forget + b_forget)
    Eq. 6  M_new  = g_in * tanh(U) + g_fgt * M,   U = Attn(M W_Q', X W_K', X W_V')

Memory is read during the segment and written once at its end, so no token sees its own future.
The state is never stored on the module: it is passed in and returned.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def split_heads(x, n_head):
    """(B, L, d) -> (B, n_head, L, d // n_head)"""
    B, L, d = x.shape
    return x.view(B, L, n_head, d // n_head).transpose(1, 2)


def merge_heads(x):
    """(B, n_head, L, d_head) -> (B, L, n_head * d_head)"""
    B, H, L, dh = x.shape
    return x.transpose(1, 2).reshape(B, L, H * dh)


def identity_memory(batch_size, n_layers, n_slots, n_embd, device=None, dtype=torch.float32):
    """The initial LM2 state, (B, n_layers, N, d): slot i of every block is the i-th unit vector."""
    eye = torch.eye(n_slots, n_embd, device=device, dtype=dtype)
    return eye.expand(batch_size, n_layers, n_slots, n_embd).clone()


class LM2Memory(nn.Module):
    """One decoder block's memory bank: a read (Eqs. 1-2) and a gated write (Eqs. 4-6)."""

    def __init__(self, n_embd, n_head, forget_bias, dropout=0.0, chrono=0):
        super().__init__()
        self.n_head = n_head
        self.dropout = dropout
        # Read, Eq. 1: tokens are queries, memory slots are keys and values.
        self.read_q = nn.Linear(n_embd, n_embd, bias=False)
        self.read_kv = nn.Linear(n_embd, 2 * n_embd, bias=False)
        # Output gate, Eq. 2.
        self.out_gate = nn.Linear(n_embd, n_embd, bias=False)
        # Write: slots are queries, the segment's tokens are keys and values (gives U).
        self.write_q = nn.Linear(n_embd, n_embd, bias=False)
        self.write_kv = nn.Linear(n_embd, 2 * n_embd, bias=False)
        # Input and forget gates, Eqs. 4-5, computed together; only the forget gate has a bias,
        # started positive so that a fresh model keeps its memory by default.
        self.gates = nn.Linear(n_embd, 2 * n_embd, bias=False)
        self.forget_bias = nn.Parameter(torch.full((n_embd,), float(forget_bias)))
        self.input_bias = None
        if chrono:  # chrono initialisation (Tallec & Ollivier 2018): dimension j starts keeping
            # its value for about T_j segments, T_j ~ U(1, chrono - 1), and writing 1/T_j of U
            with torch.no_grad():
                self.forget_bias.copy_(torch.empty(n_embd).uniform_(1, chrono - 1).log())
            self.input_bias = nn.Parameter(-self.forget_bias.detach().clone())

    def read(self, x, mem):
        """x (B, S, d), mem (B, N, d) -> the gated memory output E_gate (B, S, d).

        Eqs. 1-2 regrouped so that no d x d matrix touches the S tokens (exact, by
        associativity; N slots << S tokens): per head h,
            Q_h K_h^T  = X (K_h W_Q,h)^T                          (K_h W_Q,h is N x d)
            E_mem W_out = sum_h P_h (V_h W_out,h)                  (P_h: head h's attention)
        so one (S x d) @ (d x H*N) product gives every head's scores and one
        (S x H*N) @ (H*N x d) product the gate's input.
        """
        B, S, d = x.shape
        H, N = self.n_head, mem.size(1)
        k, v = (split_heads(t, H) for t in self.read_kv(mem).chunk(2, dim=-1))  # (B, H, N, dh)
        w_q = self.read_q.weight.view(H, d // H, d)                             # W_Q by head
        keys = torch.einsum("bhne,hed->bhnd", k, w_q)                           # K_h W_Q,h
        scores = x @ keys.reshape(B, H * N, d).transpose(1, 2)                 # (B, S, H*N)
        p = torch.softmax(scores.view(B, S, H, N) * (d // H) ** -0.5, dim=-1)
        p = F.dropout(p, self.dropout, self.training)
        e_mem = torch.einsum("bshn,bhne->bshe", p, v).reshape(B, S, d)          # Eq. 1
        w_out = self.out_gate.weight.view(d, H, d // H)                         # W_out by head
        gate_values = torch.einsum("bhne,dhe->bhnd", v, w_out)                  # V_h W_out,h
        gate_logit = p.reshape(B, S, H * N) @ gate_values.reshape(B, H * N, d)  # E_mem W_out
        return torch.sigmoid(gate_logit) * e_mem                                # Eq. 2

    def write_attention(self, x, mem):
        """The write's attention of every slot and head over the segment, (B, H*N, S): row
        h*N + n is slot n's distribution in head h, softmax((M W_Q')_h (X W_K')_h^T / sqrt(d_head))."""
        B, S, d = x.shape
        H, N = self.n_head, mem.size(1)
        w_k = self.write_kv.weight.view(2, H, d // H, d)[0]                     # W_K' by head
        q = split_heads(self.write_q(mem), H)                                   # (B, H, N, dh)
        queries = torch.einsum("bhne,hed->bhnd", q, w_k).reshape(B, H * N, d)   # Q_h W_K',h
        # No mask: each slot gathers from the whole (finished) segment.
        return torch.softmax(queries @ x.transpose(1, 2) * (d // H) ** -0.5, dim=-1)

    def write(self, x, mem):
        """x (B, S, d), mem (B, N, d) -> the memory after this segment, M_new (B, N, d).

        U = Attn(M W_Q', X W_K', X W_V') regrouped like the read (exact): per head h,
            Q_h K_h^T = (Q_h W_K',h) X^T   and   P_h (X W_V',h^T) = (P_h X) W_V',h^T
        so the segment enters as X itself, never projected.
        """
        B, _, d = x.shape
        H, N = self.n_head, mem.size(1)
        w_v = self.write_kv.weight.view(2, H, d // H, d)[1]                     # W_V' by head
        gathered = (self.write_attention(x, mem) @ x).view(B, H, N, d)          # P_h X
        u = torch.einsum("bhnd,hed->bnhe", gathered, w_v).reshape(B, N, d)      # U
        g_in, g_forget = self.gate(u)
        return g_in * torch.tanh(u) + g_forget * mem            # Eq. 6

    def gate(self, u):
        """U (B, N, d) -> the input and forget gates (Eqs. 4-5)."""
        in_logit, forget_logit = self.gates(u).chunk(2, dim=-1)
        if self.input_bias is not None:
            in_logit = in_logit + self.input_bias
        g_in = torch.sigmoid(in_logit)                          # Eq. 4
        g_forget = torch.sigmoid(forget_logit + self.forget_bias)  # Eq. 5
        return g_in, g_forget


class RMTMemory(nn.Module):
    """Recurrent Memory Transformer (Bulatov et al. 2022), decoder form.

    N memory embeddings are placed before and after each segment, [mem, segment, mem], under the
    ordinary causal mask: the first copy is read by every token, the last copy sees the whole
    segment, and the last layer's outputs there become the next segment's memory.
    """

    def __init__(self, n_slots, n_embd):
        super().__init__()
        self.n_slots = n_slots
        self.init_memory = nn.Parameter(torch.randn(n_slots, n_embd) * 0.02)

    def init_state(self, batch_size, device=None):
        mem = self.init_memory if device is None else self.init_memory.to(device)
        return mem.unsqueeze(0).expand(batch_size, -1, -1)

    def wrap(self, tok_emb, mem):
        """Segment embeddings (B, S, d) -> the sequence the blocks see, (B, N + S + N, d)."""
        mem = mem.to(tok_emb.dtype)
        return torch.cat([mem, tok_emb, mem], dim=1)

    def unwrap(self, h, segment_len):
        """Last-layer output -> (token positions (B, S, d), next memory (B, N, d))."""
        n = self.n_slots
        return h[:, n:n + segment_len], h[:, n + segment_len:]
