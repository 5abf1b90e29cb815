#!/usr/bin/env python3
"""Independent numpy reference for llama2.c checkpoints (SPEC.md section 6).

The oracle the Swift tests compare against. It is written separately from the
Swift model and works differently on purpose: float64 throughout (weights are
converted from float32), all positions of a token sequence at once, full
causal attention over a T x T score matrix (no KV cache), RoPE recomputed from
its formula (the file's legacy tables are skipped). The Swift tests use it as:

  random  write a llama2.c checkpoint with seeded random float32 weights (tied
          or untied classifier, any GQA layout), to test the Swift loader and
          forward on shapes other than stories260K. Scales: embeddings
          N(0, 0.1^2) (small, so a tied classifier does not echo the input
          token), matrices N(0, 1/in), rms_att/rms_ffn 1 + 0.1 N(0,1),
          rms_final 3 (1 + 0.1 N(0,1)), wcls N(0, 1/dim); logits have a
          per-row std of about 2-3. The legacy RoPE tables hold real cos/sin.
  logits  logits of every position as raw little-endian float64, shape
          (T, vocab) row-major, nothing else; optionally (--hidden-out) the
          hidden states after the final RMSNorm, (T, dim) the same way.
  greedy  argmax generation (ties -> lowest id) after the prompt ids; stops
          before emitting BOS (1), after --steps new ids, or when prompt +
          generated reach max_seq_len. Prints the generated ids on one line
          to stdout and the smallest top1-top2 logit margin of all argmax
          decisions (the final BOS one included) to stderr, to spot near-ties.
          It recomputes the full forward each step (~3 s for 200 steps on
          stories260K).
  train-step, selfcheck
          loss, hand-written backward pass and one AdamW step for a batch,
          and its finite-difference self-check: see train_reference.py
          (next to this file), which imports the loader from here.

Usage:
  llama_reference.py random --dim 48 --hidden 96 --layers 2 --heads 6 \
      --kv-heads 2 --vocab 64 --seq-len 32 [--untied] --seed 0 --out m.bin
  llama_reference.py logits --checkpoint m.bin --tokens "1 5 9" --out l.f64 \
      [--hidden-out h.f64]
  llama_reference.py greedy --checkpoint m.bin --prompt "1" --steps 200
  llama_reference.py train-step --checkpoint m.bin --batch "1 5 9;1 7 7" --out g.f64 \
      [--lr 1e-3 --beta1 0.9 --beta2 0.95 --eps 1e-8 --weight-decay 0.1 --clip 1.0 \
      --updated-out p.f64]
  llama_reference.py selfcheck

Errors (unreadable file, size not matching the header, bad token ids) print a
message to stderr and exit with status 1.
"""
import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only cost time
import numpy as np  # noqa: E402

HEADER = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seq_len")
EPS = 1e-5
BOS = 1


def die(msg):
    print(f"llama_reference: error: {msg}", file=sys.stderr)
    sys.exit(1)


def layout(c, untied):
    """(name, shape) of every float32 array in file order, legacy RoPE tables included."""
    d, h, L, v, s = c["dim"], c["hidden_dim"], c["n_layers"], c["vocab"], c["max_seq_len"]
    hs, kv = c["head_size"], c["kv_dim"]
    shapes = [("tok", (v, d)), ("rms_att", (L, d)), ("wq", (L, d, d)), ("wk", (L, kv, d)),
              ("wv", (L, kv, d)), ("wo", (L, d, d)), ("rms_ffn", (L, d)), ("w1", (L, h, d)),
              ("w2", (L, d, h)), ("w3", (L, h, d)), ("rms_final", (d,)),
              ("rope_cos", (s, hs // 2)), ("rope_sin", (s, hs // 2))]
    return shapes + ([("wcls", (v, d))] if untied else [])


def config(header):
    c = dict(zip(HEADER, (int(x) for x in header)))
    c["untied"] = c["vocab_size"] < 0
    c["vocab"] = abs(c["vocab_size"])
    if min(c["dim"], c["hidden_dim"], c["n_layers"], c["n_heads"], c["n_kv_heads"],
           c["vocab"], c["max_seq_len"]) <= 0:
        die(f"non-positive value in header {header}")
    if c["dim"] % c["n_heads"] or c["n_heads"] % c["n_kv_heads"] or (c["dim"] // c["n_heads"]) % 2:
        die(f"header {header}: need dim % n_heads == 0, n_heads % n_kv_heads == 0, even head size")
    c["head_size"] = c["dim"] // c["n_heads"]
    c["kv_dim"] = c["head_size"] * c["n_kv_heads"]
    return c


def load(path):
    """Read a checkpoint; returns (config, dict of float64 weights)."""
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        die(str(e))
    if len(raw) < 28:
        die(f"{path}: {len(raw)} bytes, too short for the 28-byte header")
    c = config(np.frombuffer(raw, "<i4", 7))
    shapes = layout(c, c["untied"])
    expected = 28 + 4 * sum(int(np.prod(s)) for _, s in shapes)
    if len(raw) != expected:
        die(f"{path}: size {len(raw)} bytes, header {[c[k] for k in HEADER]} implies {expected}")
    flat = np.frombuffer(raw, "<f4", offset=28).astype(np.float64)
    w, off = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        w[name] = flat[off:off + n].reshape(shape)
        off += n
    w["cls"] = w["wcls"] if c["untied"] else w["tok"]
    return c, w


def rmsnorm(x, weight):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * weight


def rope(x, head_size):
    """x: (T, heads, head_size); rotate adjacent pairs (2i, 2i+1) by pos / 10000^(2i/head_size)."""
    T = x.shape[0]
    freq = 10000.0 ** (-np.arange(0, head_size, 2, dtype=np.float64) / head_size)
    ang = np.arange(T, dtype=np.float64)[:, None] * freq[None, :]  # (T, hs/2)
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def forward(c, w, tokens):
    """Full-sequence forward. Returns (final normed hidden (T, dim), logits (T, vocab))."""
    T, nh, nkv, hs = len(tokens), c["n_heads"], c["n_kv_heads"], c["head_size"]
    x = w["tok"][np.asarray(tokens)]  # (T, dim)
    visible = np.tri(T, dtype=bool)  # visible[t, u]: query t may attend to key u <= t
    group = nh // nkv
    for l in range(c["n_layers"]):
        xn = rmsnorm(x, w["rms_att"][l])
        q = rope((xn @ w["wq"][l].T).reshape(T, nh, hs), hs)
        k = rope((xn @ w["wk"][l].T).reshape(T, nkv, hs), hs)
        v = (xn @ w["wv"][l].T).reshape(T, nkv, hs)
        # heads first; query head h reads kv head h // group
        q = q.transpose(1, 0, 2)  # (heads, T, hs)
        k = np.repeat(k.transpose(1, 0, 2), group, axis=0)
        v = np.repeat(v.transpose(1, 0, 2), group, axis=0)
        s = (q / np.sqrt(hs)) @ k.transpose(0, 2, 1)  # (heads, T, T) scores
        # causal softmax over keys u <= t: future keys get weight exactly 0 (masking
        # with where= rather than exp(-inf), which is exact too but slow in numpy)
        s -= np.max(s, axis=-1, keepdims=True, where=visible, initial=-np.inf)
        p = np.exp(s, out=np.zeros_like(s), where=visible)
        att = ((p @ v) / p.sum(axis=-1, keepdims=True)).transpose(1, 0, 2).reshape(T, nh * hs)
        x = x + att @ w["wo"][l].T
        xn = rmsnorm(x, w["rms_ffn"][l])
        g = xn @ w["w1"][l].T
        x = x + ((g / (1.0 + np.exp(-g))) * (xn @ w["w3"][l].T)) @ w["w2"][l].T
    h = rmsnorm(x, w["rms_final"])
    return h, h @ w["cls"].T


def parse_ids(text, c):
    try:
        ids = [int(t) for t in text.replace(",", " ").split()]
    except ValueError:
        die(f"token list {text!r} is not integers")
    if not ids:
        die("empty token list")
    if any(t < 0 or t >= c["vocab"] for t in ids):
        die(f"token id out of range [0, {c['vocab']})")
    if len(ids) > c["max_seq_len"]:
        die(f"{len(ids)} tokens exceed max_seq_len {c['max_seq_len']}")
    return ids


def cmd_random(a):
    header = [a.dim, a.hidden, a.layers, a.heads, a.kv_heads, -a.vocab if a.untied else a.vocab, a.seq_len]
    c = config(header)
    rng = np.random.default_rng(a.seed)
    hs = c["head_size"]
    ang = np.arange(a.seq_len)[:, None] * 10000.0 ** (-np.arange(0, hs, 2) / hs)[None, :]
    arrays = []
    for name, shape in layout(c, a.untied):
        if name == "tok":  # small, so a tied classifier does not just echo the input token
            arr = 0.1 * rng.standard_normal(shape)
        elif name.startswith("rms"):  # final gain 3, like trained models' (stories260K: ~1.8)
            arr = (3.0 if name == "rms_final" else 1.0) * (1.0 + 0.1 * rng.standard_normal(shape))
        elif name in ("rope_cos", "rope_sin"):
            arr = np.cos(ang) if name == "rope_cos" else np.sin(ang)
        else:  # (.., out, in) matrix
            arr = rng.standard_normal(shape) / np.sqrt(shape[-1])
        arrays.append(np.ascontiguousarray(arr, dtype="<f4"))
    with open(a.out, "wb") as f:
        f.write(np.asarray(header, dtype="<i4").tobytes())
        for arr in arrays:
            f.write(arr.tobytes())
    expected = 28 + 4 * sum(arr.size for arr in arrays)
    if os.path.getsize(a.out) != expected:
        die(f"wrote {os.path.getsize(a.out)} bytes, expected {expected}")
    print(f"wrote {a.out}: header {header}, {expected} bytes", file=sys.stderr)


def cmd_logits(a):
    c, w = load(a.checkpoint)
    hidden, logits = forward(c, w, parse_ids(a.tokens, c))
    with open(a.out, "wb") as f:
        f.write(np.ascontiguousarray(logits, dtype="<f8").tobytes())
    if a.hidden_out:
        with open(a.hidden_out, "wb") as f:
            f.write(np.ascontiguousarray(hidden, dtype="<f8").tobytes())


def cmd_greedy(a):
    c, w = load(a.checkpoint)
    seq = parse_ids(a.prompt, c)
    generated, margin = [], np.inf
    for _ in range(a.steps):
        if len(seq) >= c["max_seq_len"]:
            break
        row = forward(c, w, seq)[1][-1]
        nxt = int(np.argmax(row))  # ties -> lowest id
        top2 = np.partition(row, -2)[-2:]
        margin = min(margin, float(top2[1] - top2[0]))
        if nxt == BOS:
            break
        generated.append(nxt)
        seq.append(nxt)
    print(" ".join(map(str, generated)))
    print(f"min top1-top2 margin: {margin:.6g}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("random", help="write a random llama2.c checkpoint")
    for flag in ("--dim", "--hidden", "--layers", "--heads", "--kv-heads", "--vocab", "--seq-len", "--seed"):
        r.add_argument(flag, type=int, required=True)
    r.add_argument("--untied", action="store_true", help="own classifier (negative vocab_size)")
    r.add_argument("--out", required=True)
    lg = sub.add_parser("logits", help="raw float64 logits (T, vocab) for a token sequence")
    lg.add_argument("--checkpoint", required=True)
    lg.add_argument("--tokens", required=True)
    lg.add_argument("--out", required=True)
    lg.add_argument("--hidden-out", help="also write final normed hidden states (T, dim)")
    g = sub.add_parser("greedy", help="greedy generation after a prompt")
    g.add_argument("--checkpoint", required=True)
    g.add_argument("--prompt", default="1")
    g.add_argument("--steps", type=int, required=True)
    import train_reference  # train-step and selfcheck (in their own file, next to this one)
    handlers = {"random": cmd_random, "logits": cmd_logits, "greedy": cmd_greedy}
    handlers.update(train_reference.add_subcommands(sub))
    a = ap.parse_args()
    handlers[a.cmd](a)


if __name__ == "__main__":
    main()
