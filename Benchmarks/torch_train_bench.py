#!/usr/bin/env python3
"""PyTorch CPU training-throughput benchmark for a llama2.c-style decoder.

Same model as HydraSim's `train base`: tied token embedding / classifier, L blocks of
[RMSNorm -> GQA attention with RoPE on adjacent pairs (2i, 2i+1), causal, no bias -> residual;
 RMSNorm -> SwiGLU w2(silu(w1 x) * w3 x), no bias -> residual], final RMSNorm, logits,
mean cross-entropy. AdamW(lr 1e-3, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on matrices
only), global grad-norm clip 1.0. Random token ids: this measures throughput only.

One timed step = zero_grad + forward + backward + clip + optimizer.step + loss.item().
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_size, context, base=10000.0):
    # angle(pos, i) = pos / base^(2i / head_size) for pair i = (2i, 2i+1); computed in float64 like HydraSim.
    i = torch.arange(head_size // 2, dtype=torch.float64)
    freqs = 1.0 / base ** (2 * i / head_size)
    angles = torch.outer(torch.arange(context, dtype=torch.float64), freqs)  # (T, hs/2)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x, cos, sin):
    # x: (B, heads, T, hs); rotate adjacent pairs (x[2i], x[2i+1]).
    xr = x.unflatten(-1, (-1, 2))
    a, b = xr[..., 0], xr[..., 1]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, dim, heads, kv_heads, context, sdpa):
        super().__init__()
        assert dim % heads == 0 and heads % kv_heads == 0
        self.heads, self.kv_heads, self.head_size = heads, kv_heads, dim // heads
        assert self.head_size % 2 == 0
        self.group = heads // kv_heads
        kv_dim = self.head_size * kv_heads
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, kv_dim, bias=False)
        self.wv = nn.Linear(dim, kv_dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.sdpa = sdpa
        self.register_buffer("causal", torch.ones(context, context, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.heads, self.head_size).transpose(1, 2)
        k = self.wk(x).view(B, T, self.kv_heads, self.head_size).transpose(1, 2)
        v = self.wv(x).view(B, T, self.kv_heads, self.head_size).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.group > 1:  # query head h uses kv head h // group
            k = k.repeat_interleave(self.group, dim=1)
            v = v.repeat_interleave(self.group, dim=1)
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_size))
            att = att.masked_fill(self.causal[:T, :T], float("-inf"))
            y = att.softmax(dim=-1) @ v
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.attention_norm = RMSNorm(a.dim)
        self.attention = Attention(a.dim, a.heads, a.kv_heads, a.context, a.sdpa)
        self.ffn_norm = RMSNorm(a.dim)
        self.feed_forward = FeedForward(a.dim, a.hidden)

    def forward(self, x, cos, sin):
        x = x + self.attention(self.attention_norm(x), cos, sin)
        return x + self.feed_forward(self.ffn_norm(x))


class Transformer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.tok_embeddings = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        cos, sin = rope_tables(a.dim // a.heads, a.context)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, mean=0.0, std=0.02)

    def forward(self, tokens, targets):
        T = tokens.shape[1]
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits = self.norm(x) @ self.tok_embeddings.weight.t()  # tied classifier
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def hydrasim_parameter_count(a):
    # HydraSim ModelConfig.parameterCount with kvDim = dim * kvHeads / heads and a shared classifier.
    kv_dim = a.dim * a.kv_heads // a.heads
    per_layer = 2 * a.dim + 2 * a.dim * a.dim + 2 * kv_dim * a.dim + 3 * a.dim * a.hidden
    return a.vocab * a.dim + a.layers * per_layer + a.dim


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--hidden", type=int, default=704)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10, help="timed steps (after the warm-up steps)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sdpa", action="store_true", help="use F.scaled_dot_product_attention instead of explicit attention")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--count-only", action="store_true", help="build the model, print the parameter count, do not train")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = Transformer(a)
    params = sum(t.numel() for t in model.parameters())  # tied table counted once
    expected = hydrasim_parameter_count(a)
    if params != expected:
        print(f"parameter count {params} != HydraSim formula {expected}", file=sys.stderr)
        sys.exit(1)
    if a.count_only:
        print(json.dumps({"parameters": params, "hydrasim_formula": expected}))
        return

    decay = [t for t in model.parameters() if t.dim() >= 2]
    no_decay = [t for t in model.parameters() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    data = torch.randint(0, a.vocab, (a.batch, a.context + 1))
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    elapsed = time.perf_counter() - start

    print(json.dumps({
        "tokens_per_second": a.batch * a.context * a.steps / elapsed,
        "step_seconds": elapsed / a.steps,
        "threads": a.threads,
        "parameters": params,
        "torch_version": torch.__version__,
        "attention": "sdpa" if a.sdpa else "explicit",
        "steps": a.steps,
        "warmup_steps": a.warmup,
        "tokens_per_step": a.batch * a.context,
        "last_loss": loss,
    }))


if __name__ == "__main__":
    main()
