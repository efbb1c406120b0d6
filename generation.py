"""Decoding for model.LM, one segment at a time with the memory carried along: sampling
(`generate`) and batched greedy answers to prompts of different lengths (`generate_greedy`).

Inside a segment a key/value cache per block avoids recomputation; when a segment fills up, the
memory is written by running the finished segment once, and a fresh segment begins.
"""
import torch
import torch.nn.functional as F


class KVCache:
    """Keys and values of one block for the tokens seen so far in the current segment."""

    def __init__(self):
        self.k = self.v = None
        self.valid = None  # (B, cached): the keys each row may attend to (padded rows), or all
        self.conv_inputs = None  # (B, cached, d): the block's ShortConv inputs so far

    def conv_history(self, x, n):
        """The last n ShortConv inputs each row has before x (zeros where there are fewer; padded
        positions skipped), then x joins the history."""
        B, d = x.size(0), x.size(-1)
        past = x.new_zeros(B, n, d)
        if self.conv_inputs is not None and n > 0:
            cached = self.conv_inputs.size(1)
            at = torch.arange(cached, device=x.device).expand(B, cached)
            if self.valid is not None:  # rows padded at their ends: only real positions count
                at = torch.where(self.valid[:, :cached], at, -1)
            last = at.sort(dim=1).values[:, -n:]                      # (B, <= n), -1 = none
            got = self.conv_inputs.gather(1, last.clamp(min=0)[..., None].expand(-1, -1, d))
            past[:, n - last.size(1):] = got * (last >= 0)[..., None]
        self.conv_inputs = x if self.conv_inputs is None else torch.cat([self.conv_inputs, x], 1)
        return past

    def __len__(self):
        return 0 if self.k is None else self.k.size(2)

    def append(self, k, v):
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        return self.k, self.v


class Generation:
    """The decoding methods of model.LM (a mixin: it uses LM.hidden, LM.lm_head, LM.blocks)."""

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, state=None,
                 stop_token=None):
        """Prompt (B, T) of any length -> (B, T + new). Segments are aligned to the prompt's first
        token as in forward_long; inside a segment a key/value cache avoids recomputation, and
        when a segment fills up the memory is written and a fresh segment begins.
        temperature=0 is greedy decoding. Stops early once every row has emitted stop_token."""
        B, T = idx.shape
        S = self.config.segment_len
        if state is None:
            state = self.init_state(B, idx.device)
        seg_start = (T - 1) // S * S
        for start in range(0, seg_start, S):  # whole segments before the last: memory only
            _, state = self.hidden(idx[:, start:start + S], state)
        caches = [KVCache() for _ in self.blocks]
        h, _ = self.hidden(idx[:, seg_start:], state, caches)
        done = torch.zeros(B, dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            next_token = self._sample(self.lm_head(h[:, -1]).float(), temperature, top_k)
            idx = torch.cat([idx, next_token], dim=1)
            if stop_token is not None:
                done |= next_token.squeeze(1) == stop_token
                if done.all():
                    break
            if idx.size(1) - 1 == seg_start + S:  # the new token opens a segment: write memory
                if state is not None:
                    _, state = self.hidden(idx[:, seg_start:seg_start + S], state)
                seg_start += S
                caches = [KVCache() for _ in self.blocks]
            h, _ = self.hidden(next_token, state, caches)
        return idx

    @torch.no_grad()
    def generate_greedy(self, prompts, max_new_tokens, stop_token=None):
        """Greedy continuations of prompts of different lengths (a list of 1-D token tensors),
        batched, and exactly what generate(prompt, temperature=0) gives one prompt at a time:
        a list of new-token lists, each cut after its stop_token.

        Rows are aligned to their first token as everywhere, so rows that share the number of
        whole segments before their last one read those together. Their last segments are
        padded at the end, which causal attention keeps out of the real tokens; while decoding,
        each row's new token takes its own rotary position and attends to its own prompt and
        answer only. A row alone, or one whose answer could spill into a new segment, goes
        through generate() by itself."""
        S = self.config.segment_len
        out, groups, alone = [None] * len(prompts), {}, []
        for i, prompt in enumerate(prompts):
            whole = (len(prompt) - 1) // S * S  # tokens in the segments before the last
            spills = len(prompt) - whole + max_new_tokens - 1 > S
            (alone if spills else groups.setdefault(whole, [])).append(i)
        alone += [rows[0] for rows in groups.values() if len(rows) == 1]
        for i in alone:
            out[i] = self.generate(prompts[i][None], max_new_tokens, temperature=0,
                                   stop_token=stop_token)[0, len(prompts[i]):].tolist()
        for whole, rows in groups.items():
            if len(rows) > 1:
                answers = self._greedy_group([prompts[i] for i in rows], whole, max_new_tokens)
                for i, new in zip(rows, answers):
                    out[i] = new
        return [new[:new.index(stop_token) + 1] if stop_token in new else new for new in out]

    def _greedy_group(self, prompts, whole, max_new_tokens):
        """generate_greedy for rows sharing `whole` tokens of whole segments, no row spilling."""
        S, B = self.config.segment_len, len(prompts)
        device = prompts[0].device
        state = self.init_state(B, device)
        x = torch.stack([p[:whole] for p in prompts])
        for start in range(0, whole, S):
            _, state = self.hidden(x[:, start:start + S], state)
        tails = torch.nn.utils.rnn.pad_sequence([p[whole:] for p in prompts], batch_first=True)
        lengths = torch.tensor([len(p) - whole for p in prompts], device=device)
        caches = [KVCache() for _ in self.blocks]
        h, _ = self.hidden(tails, state, caches)
        offset = len(caches[0]) - tails.size(1)  # RMT's memory tokens before the segment
        rows = torch.arange(B, device=device)
        valid = torch.arange(len(caches[0]), device=device)[None, :] < (offset + lengths)[:, None]
        token = self.lm_head(h[rows, lengths - 1]).float().argmax(dim=-1)
        new = [token]
        for step in range(1, max_new_tokens):
            valid = torch.cat([valid, valid.new_ones(B, 1)], dim=1)
            for cache in caches:
                cache.valid = valid
            h, _ = self.hidden(token[:, None], state, caches,
                               positions=(offset + lengths + step - 1)[:, None])
            token = self.lm_head(h[:, -1]).float().argmax(dim=-1)
            new.append(token)
        return torch.stack(new, dim=1).tolist()

    @staticmethod
    def _sample(logits, temperature, top_k):
        if temperature == 0:
            return logits.argmax(dim=-1, keepdim=True)
        logits = logits / temperature
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        return torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)
