#!/usr/bin/env python3
"""Numpy training reference for llama2.c checkpoints: loss, backward pass, AdamW.

The oracle the Swift tests check the Swift backward pass and optimizer step
against. Like llama_reference.py (whose checkpoint loader it imports) it is
written independently of the Swift code: float64 throughout, every layer a
small forward/backward pair of numpy functions with the gradient derived by
hand (no finite differences, no autograd), llm.c style. Both subcommands are
also reachable through llama_reference.py, which is what the tests run:

  train-step  one batch of B sequences of T+1 token ids each (inputs ids[:-1],
              targets ids[1:], positions 0..T-1, causal attention). Writes to
              --out, raw little-endian float64, nothing else:
                the loss (1 value): mean over all B*T positions of
                  -log softmax(logits)[target];
                then the gradient of that loss for every parameter tensor,
                  flattened row-major, in checkpoint order: token_embedding
                  (vocab, dim), rms_att (layers, dim), wq (layers, dim, dim),
                  wk (layers, kv_dim, dim), wv (layers, kv_dim, dim),
                  wo (layers, dim, dim), rms_ffn (layers, dim),
                  w1 (layers, hidden, dim), w2 (layers, dim, hidden),
                  w3 (layers, hidden, dim), rms_final (dim), then wcls
                  (vocab, dim) only when the classifier is untied. A tied
                  classifier's gradient is included in token_embedding's.
              The gradients are the raw ones (not clipped).
              With --updated-out, also one AdamW step (PyTorch semantics, step
              1) after global-norm clipping, and writes the updated parameters
              as raw float64 in the same tensor order (no loss in front):
                norm = sqrt(sum of g^2 over all tensors, tied embedding once);
                if norm > clip: g *= clip / norm          (--clip 0: no clip)
                m = (1-b1) g; v = (1-b2) g^2; m^ = m/(1-b1); v^ = v/(1-b2)
                p *= 1 - lr*wd      only for matrices: token_embedding, wq, wk,
                                    wv, wo, w1, w2, w3, wcls (not RMSNorm gains)
                p -= lr * m^ / (sqrt(v^) + eps)
              Prints loss, gradient norm and clip factor to stderr.
  selfcheck   checks the analytic gradients against central finite differences
              (float64, five-point stencil, step 1e-4, every entry of every
              tensor) on tiny random GQA models held in memory, one tied and
              one untied; also that the training forward gives the same logits
              as llama_reference's own forward, and that an AdamW step lowers
              the loss. Prints the errors per tensor; exits 1 if any exceeds
              1e-5. Takes about 40 s; the Swift tests do not run it.

Usage:
  train_reference.py train-step --checkpoint m.bin --batch "1 5 9 4;1 7 7 2" \
      --out g.f64 [--lr 1e-3 --beta1 0.9 --beta2 0.95 --eps 1e-8 \
      --weight-decay 0.1 --clip 1.0 --updated-out p.f64]
  train_reference.py selfcheck
(or the same with llama_reference.py). Errors print a message to stderr and
exit with status 1.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny matrices: threads only cost time
import numpy as np  # noqa: E402

import llama_reference as ref  # noqa: E402  (checkpoint loader, config, the inference forward)
from llama_reference import EPS, die  # noqa: E402

PARAMS = ("tok", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final")
MATRICES = ("tok", "wq", "wk", "wv", "wo", "w1", "w2", "w3", "wcls")  # AdamW decays these only


def param_names(c):
    """The trainable tensors in checkpoint order (wcls only when untied)."""
    return PARAMS + (("wcls",) if c["untied"] else ())


# ----------------------------------------------------------------------------
# layers: each a forward and a backward function
# B batch, T positions, C dim, H hidden_dim, NH query heads, NKV kv heads,
# hs head size, V vocab


def embedding_forward(tok, ids):
    """tok (V, C), ids (B, T) -> (B, T, C)"""
    return tok[ids]  # (B, T, C)


def embedding_backward(dtok, dout, ids):
    """out = tok[ids]: each position adds its gradient to its token's row (in place)."""
    np.add.at(dtok, ids, dout)  # dtok (V, C), dout (B, T, C)


def rmsnorm_forward(x, w):
    """x (B, T, C), w (C,) -> out (B, T, C), cache"""
    rstd = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS)  # (B, T, 1)
    xhat = x * rstd  # (B, T, C)
    return xhat * w, (xhat, rstd)


def rmsnorm_backward(dout, w, cache):
    """out = x * rstd * w, rstd = (mean(x^2) + eps)^(-1/2).

    d rstd / d x_j = -rstd^3 x_j / C, hence
    dx = rstd * (dxhat - xhat * mean(dxhat * xhat)) with dxhat = dout * w.
    """
    xhat, rstd = cache
    dw = np.sum(dout * xhat, axis=(0, 1))  # (C,)
    dxhat = dout * w  # (B, T, C)
    dx = rstd * (dxhat - xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True))  # (B, T, C)
    return dx, dw


def matmul_forward(inp, W):
    """inp (B, T, in), W (out, in) -> (B, T, out)"""
    return inp @ W.T  # (B, T, out)


def matmul_backward(dout, inp, W):
    """out = inp @ W.T"""
    dinp = dout @ W  # (B, T, in)
    dW = dout.reshape(-1, W.shape[0]).T @ inp.reshape(-1, W.shape[1])  # (out, in), summed over B*T
    return dinp, dW


def rope_tables(T, hs):
    """cos, sin of pos / 10000^(2i/hs), each (T, 1, hs/2) to broadcast over (B, T, heads, hs/2)."""
    freq = 10000.0 ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)  # (hs/2,)
    ang = np.arange(T, dtype=np.float64)[:, None] * freq[None, :]  # (T, hs/2)
    return np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]


def rope_forward(x, cos, sin):
    """x (B, T, heads, hs): rotate each adjacent pair (2i, 2i+1) at position t by ang[t, i]."""
    a, b = x[..., 0::2], x[..., 1::2]  # (B, T, heads, hs/2)
    out = np.empty_like(x)  # (B, T, heads, hs)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def rope_backward(dout, cos, sin):
    """out = R(ang) x with R a rotation, so dx = R(ang)^T dout = R(-ang) dout (the inverse rotation):
    out[2i] = a cos - b sin, out[2i+1] = a sin + b cos."""
    da, db = dout[..., 0::2], dout[..., 1::2]  # (B, T, heads, hs/2)
    dx = np.empty_like(dout)  # (B, T, heads, hs)
    dx[..., 0::2] = da * cos + db * sin
    dx[..., 1::2] = -da * sin + db * cos
    return dx


def attention_forward(q, k, v):
    """q (B, T, NH, hs) after RoPE, k (B, T, NKV, hs) after RoPE, v (B, T, NKV, hs).

    Query head h reads kv head h // (NH / NKV). Returns out (B, T, NH * hs), cache.
    """
    B, T, NH, hs = q.shape
    group = NH // k.shape[2]
    qh = q.transpose(0, 2, 1, 3)  # (B, NH, T, hs)
    kh = np.repeat(k.transpose(0, 2, 1, 3), group, axis=1)  # (B, NH, T, hs) kv head of each query head
    vh = np.repeat(v.transpose(0, 2, 1, 3), group, axis=1)  # (B, NH, T, hs)
    s = (qh @ kh.transpose(0, 1, 3, 2)) / np.sqrt(hs)  # (B, NH, T, T) s[.., t, u] = q_t . k_u / sqrt(hs)
    s = np.where(np.tri(T, dtype=bool), s, -np.inf)  # (B, NH, T, T) query t sees keys u <= t
    p = np.exp(s - np.max(s, axis=-1, keepdims=True))  # (B, NH, T, T) future keys: exp(-inf) = 0
    p /= np.sum(p, axis=-1, keepdims=True)  # softmax over keys
    o = p @ vh  # (B, NH, T, hs)
    return o.transpose(0, 2, 1, 3).reshape(B, T, NH * hs), (qh, kh, vh, p)


def attention_backward(dout, cache, n_kv):
    """dout (B, T, NH * hs) -> dq (B, T, NH, hs), dk (B, T, NKV, hs), dv (B, T, NKV, hs)."""
    qh, kh, vh, p = cache
    B, NH, T, hs = qh.shape
    do = dout.reshape(B, T, NH, hs).transpose(0, 2, 1, 3)  # (B, NH, T, hs)
    # o = p @ vh
    dp = do @ vh.transpose(0, 1, 3, 2)  # (B, NH, T, T)
    dvh = p.transpose(0, 1, 3, 2) @ do  # (B, NH, T, hs)
    # p = softmax(s) over keys: ds = p * (dp - sum_u p dp); masked entries have p = 0, so ds = 0
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True))  # (B, NH, T, T)
    # s = (qh @ kh^T) / sqrt(hs)
    dqh = (ds @ kh) / np.sqrt(hs)  # (B, NH, T, hs)
    dkh = (ds.transpose(0, 1, 3, 2) @ qh) / np.sqrt(hs)  # (B, NH, T, hs)
    # kh = repeat(k, group, heads axis): a kv head's gradient is the sum over the query heads sharing it
    group = NH // n_kv

    def to_kv(dh):  # (B, NH, T, hs) -> (B, T, NKV, hs)
        return dh.reshape(B, n_kv, group, T, hs).sum(axis=2).transpose(0, 2, 1, 3)

    return dqh.transpose(0, 2, 1, 3), to_kv(dkh), to_kv(dvh)


def swiglu_forward(g, u):
    """g = w1 x, u = w3 x, each (B, T, H) -> silu(g) * u (B, T, H), silu(g) = g * sigmoid(g)."""
    sig = 1.0 / (1.0 + np.exp(-g))  # (B, T, H)
    return g * sig * u, (g, u, sig)


def swiglu_backward(dout, cache):
    """out = g * sigmoid(g) * u;  d(g * sigmoid(g))/dg = sig * (1 + g * (1 - sig))."""
    g, u, sig = cache
    dg = dout * u * sig * (1.0 + g * (1.0 - sig))  # (B, T, H)
    du = dout * g * sig  # (B, T, H)
    return dg, du


def crossentropy_forward(logits, targets):
    """logits (B, T, V), targets (B, T) -> mean over B*T of -log softmax(logits)[target], probs."""
    z = logits - np.max(logits, axis=-1, keepdims=True)  # (B, T, V)
    logp = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))  # (B, T, V) log softmax
    nll = -np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]  # (B, T)
    return float(np.mean(nll)), np.exp(logp)


def crossentropy_backward(probs, targets):
    """loss = mean_{b,t} (logsumexp(logits[b,t]) - logits[b,t,target]): dlogits = (softmax - onehot) / (B*T)."""
    B, T, V = probs.shape
    dlogits = probs.copy()  # (B, T, V)
    dlogits[np.arange(B)[:, None], np.arange(T)[None, :], targets] -= 1.0
    return dlogits / (B * T)


# ----------------------------------------------------------------------------
# the model


def model_forward(c, w, inputs, targets):
    """inputs, targets (B, T) int. Returns loss, logits (B, T, V), and the activations for the backward."""
    B, T = inputs.shape
    NH, NKV, hs = c["n_heads"], c["n_kv_heads"], c["head_size"]
    cos, sin = rope_tables(T, hs)
    layers = []
    x = embedding_forward(w["tok"], inputs)  # (B, T, C) residual stream
    for l in range(c["n_layers"]):
        a = {}
        a["xn"], a["norm1"] = rmsnorm_forward(x, w["rms_att"][l])  # (B, T, C)
        q = rope_forward(matmul_forward(a["xn"], w["wq"][l]).reshape(B, T, NH, hs), cos, sin)  # (B, T, NH, hs)
        k = rope_forward(matmul_forward(a["xn"], w["wk"][l]).reshape(B, T, NKV, hs), cos, sin)  # (B, T, NKV, hs)
        v = matmul_forward(a["xn"], w["wv"][l]).reshape(B, T, NKV, hs)  # (B, T, NKV, hs)
        a["att"], a["attn"] = attention_forward(q, k, v)  # (B, T, C)
        x = x + matmul_forward(a["att"], w["wo"][l])  # (B, T, C)
        a["xn2"], a["norm2"] = rmsnorm_forward(x, w["rms_ffn"][l])  # (B, T, C)
        g = matmul_forward(a["xn2"], w["w1"][l])  # (B, T, H)
        u = matmul_forward(a["xn2"], w["w3"][l])  # (B, T, H)
        a["hmid"], a["swiglu"] = swiglu_forward(g, u)  # (B, T, H)
        x = x + matmul_forward(a["hmid"], w["w2"][l])  # (B, T, C)
        layers.append(a)
    h, normf = rmsnorm_forward(x, w["rms_final"])  # (B, T, C)
    logits = matmul_forward(h, w["cls"])  # (B, T, V)
    loss, probs = crossentropy_forward(logits, targets)
    return loss, logits, dict(layers=layers, h=h, normf=normf, probs=probs, cos=cos, sin=sin)


def model_backward(c, w, inputs, targets, acts):
    """Gradients of the mean loss for every tensor of param_names(c), same shapes as w."""
    B, T = inputs.shape
    NKV = c["n_kv_heads"]
    cos, sin = acts["cos"], acts["sin"]
    grads = {name: np.zeros_like(w[name]) for name in param_names(c)}
    dlogits = crossentropy_backward(acts["probs"], targets)  # (B, T, V)
    # logits = h @ cls.T (cls is tok itself when tied: its gradient goes to the embedding)
    dh, dcls = matmul_backward(dlogits, acts["h"], w["cls"])  # (B, T, C), (V, C)
    grads["wcls" if c["untied"] else "tok"] += dcls
    # h = rmsnorm(x, rms_final)
    dx, grads["rms_final"] = rmsnorm_backward(dh, w["rms_final"], acts["normf"])  # (B, T, C) residual grad
    for l in reversed(range(c["n_layers"])):
        a = acts["layers"][l]
        # x = x + hmid @ w2.T  (the residual passes dx through unchanged)
        dhmid, grads["w2"][l] = matmul_backward(dx, a["hmid"], w["w2"][l])  # (B, T, H)
        # hmid = silu(g) * u
        dg, du = swiglu_backward(dhmid, a["swiglu"])  # (B, T, H) each
        # g = xn2 @ w1.T, u = xn2 @ w3.T
        dxn2_g, grads["w1"][l] = matmul_backward(dg, a["xn2"], w["w1"][l])  # (B, T, C)
        dxn2_u, grads["w3"][l] = matmul_backward(du, a["xn2"], w["w3"][l])  # (B, T, C)
        # xn2 = rmsnorm(x, rms_ffn)
        dxr, grads["rms_ffn"][l] = rmsnorm_backward(dxn2_g + dxn2_u, w["rms_ffn"][l], a["norm2"])
        dx = dx + dxr  # (B, T, C)
        # x = x + att @ wo.T
        datt, grads["wo"][l] = matmul_backward(dx, a["att"], w["wo"][l])  # (B, T, C)
        # att = attention(q, k, v)
        dq, dk, dv = attention_backward(datt, a["attn"], NKV)  # (B, T, NH, hs), (B, T, NKV, hs) x2
        # q = rope(xn @ wq.T), k = rope(xn @ wk.T), v = xn @ wv.T
        dq = rope_backward(dq, cos, sin).reshape(B, T, -1)  # (B, T, C)
        dk = rope_backward(dk, cos, sin).reshape(B, T, -1)  # (B, T, kv_dim)
        dv = dv.reshape(B, T, -1)  # (B, T, kv_dim)
        dxn_q, grads["wq"][l] = matmul_backward(dq, a["xn"], w["wq"][l])  # (B, T, C)
        dxn_k, grads["wk"][l] = matmul_backward(dk, a["xn"], w["wk"][l])  # (B, T, C)
        dxn_v, grads["wv"][l] = matmul_backward(dv, a["xn"], w["wv"][l])  # (B, T, C)
        # xn = rmsnorm(x, rms_att)
        dxr, grads["rms_att"][l] = rmsnorm_backward(dxn_q + dxn_k + dxn_v, w["rms_att"][l], a["norm1"])
        dx = dx + dxr  # (B, T, C)
    # x = tok[inputs]
    embedding_backward(grads["tok"], dx, inputs)
    return grads


def loss_and_grads(c, w, batch):
    """batch (B, T+1) int -> (loss, dict of gradients)."""
    inputs, targets = batch[:, :-1], batch[:, 1:]  # (B, T) each
    loss, _, acts = model_forward(c, w, inputs, targets)
    return loss, model_backward(c, w, inputs, targets, acts)


# ----------------------------------------------------------------------------
# optimizer


def clip_grads(grads, clip):
    """Global-norm clipping: returns (clipped gradients, norm before clipping, scale applied)."""
    norm = float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))  # each tensor once
    scale = clip / norm if clip > 0 and norm > clip else 1.0
    return {name: g * scale for name, g in grads.items()}, norm, scale


def adamw_first_step(w, grads, lr, beta1, beta2, eps, weight_decay):
    """PyTorch AdamW, step 1, fresh moments. Returns the updated tensors (copies)."""
    out = {}
    for name, g in grads.items():
        m = (1.0 - beta1) * g
        v = (1.0 - beta2) * g * g
        m_hat = m / (1.0 - beta1)
        v_hat = v / (1.0 - beta2)
        p = w[name].copy()
        if name in MATRICES:  # decoupled weight decay, matrices only
            p *= 1.0 - lr * weight_decay
        p -= lr * m_hat / (np.sqrt(v_hat) + eps)
        out[name] = p
    return out


# ----------------------------------------------------------------------------
# subcommands


def parse_batch(text, c):
    """'1 5 9;1 7 7' -> (B, T+1) int array; every row the same length, 2 <= T+1 <= max_seq_len + 1."""
    rows = []
    for part in text.split(";"):
        try:
            ids = [int(t) for t in part.replace(",", " ").split()]
        except ValueError:
            die(f"batch sequence {part!r} is not integers")
        if len(ids) < 2:
            die(f"batch sequence {part!r}: need at least 2 ids (T+1 with T >= 1)")
        if any(t < 0 or t >= c["vocab"] for t in ids):
            die(f"batch sequence {part!r}: token id out of range [0, {c['vocab']})")
        rows.append(ids)
    if len({len(r) for r in rows}) != 1:
        die(f"batch sequences have different lengths {[len(r) for r in rows]}")
    if len(rows[0]) - 1 > c["max_seq_len"]:
        die(f"T = {len(rows[0]) - 1} exceeds max_seq_len {c['max_seq_len']}")
    return np.asarray(rows, dtype=np.int64)


def write_f64(path, arrays):
    with open(path, "wb") as f:
        for arr in arrays:
            f.write(np.ascontiguousarray(arr, dtype="<f8").tobytes())


def cmd_train_step(a):
    c, w = ref.load(a.checkpoint)
    batch = parse_batch(a.batch, c)
    loss, grads = loss_and_grads(c, w, batch)
    names = param_names(c)
    write_f64(a.out, [np.array([loss])] + [grads[n] for n in names])
    clipped, norm, scale = clip_grads(grads, a.clip)
    print(f"loss {loss:.12g}  grad norm {norm:.12g}  clip scale {scale:.12g}  "
          f"(B={batch.shape[0]}, T={batch.shape[1] - 1})", file=sys.stderr)
    if a.updated_out:
        new = adamw_first_step(w, clipped, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay)
        write_f64(a.updated_out, [new[n] for n in names])


def random_model(dim, hidden, layers, heads, kv_heads, vocab, seq_len, untied, seed):
    """An in-memory float64 model with llama_reference `random`'s scales (and float32-free)."""
    c = ref.config([dim, hidden, layers, heads, kv_heads, -vocab if untied else vocab, seq_len])
    rng = np.random.default_rng(seed)
    w = {}
    for name, shape in ref.layout(c, untied):
        if name == "tok":
            w[name] = 0.1 * rng.standard_normal(shape)
        elif name.startswith("rms"):
            w[name] = (3.0 if name == "rms_final" else 1.0) * (1.0 + 0.1 * rng.standard_normal(shape))
        elif name.startswith("rope"):
            continue  # the legacy tables are not used
        else:
            w[name] = rng.standard_normal(shape) / np.sqrt(shape[-1])
    w["cls"] = w["wcls"] if untied else w["tok"]  # tied: the very same array
    return c, w


def finite_difference(c, w, batch, name, h=1e-4):
    """d loss / d w[name] for every entry by the five-point central difference (error O(h^4))
    (f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / 12h; perturbs w[name] in place and restores it."""
    inputs, targets = batch[:, :-1], batch[:, 1:]
    p = w[name]
    fd = np.zeros_like(p)
    for i in range(p.size):
        old, f = p.flat[i], {}
        for k in (-2, -1, 1, 2):
            p.flat[i] = old + k * h
            f[k] = model_forward(c, w, inputs, targets)[0]
        p.flat[i] = old
        fd.flat[i] = (8.0 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12.0 * h)
    return fd


def cmd_selfcheck(a):
    tol, ok = 1e-5, True
    cases = [  # (label, model arguments, batch (B, T+1) with repeated tokens)
        ("tied, 4 query heads / 2 kv heads",
         dict(dim=16, hidden=24, layers=2, heads=4, kv_heads=2, vocab=13, seq_len=8, untied=False, seed=1),
         [[1, 5, 9, 5, 12, 3, 5], [1, 7, 7, 2, 0, 11, 4], [1, 12, 3, 3, 8, 6, 10]]),
        ("untied, 4 query heads / 1 kv head",
         dict(dim=16, hidden=24, layers=2, heads=4, kv_heads=1, vocab=13, seq_len=8, untied=True, seed=2),
         [[1, 4, 4, 9, 2, 10, 7, 7, 3], [1, 11, 0, 6, 6, 5, 8, 12, 2]]),
    ]
    print("fd: five-point central differences, h = 1e-4, every entry. Per tensor:\n"
          "  error       = max |analytic - fd| / max |fd|\n"
          "  elementwise = max |analytic - fd| / max(|analytic|, |fd|) over the entries where\n"
          "                max(|analytic|, |fd|) > 1e-4 max |fd| (smaller ones are fd noise)\n"
          f"tolerance {tol:g} on both")
    for label, kwargs, rows in cases:
        c, w = random_model(**kwargs)
        batch = np.asarray(rows, dtype=np.int64)
        start = time.time()
        # the training forward must be the model llama_reference.forward computes
        logits = model_forward(c, w, batch[:, :-1], batch[:, 1:])[1]
        fwd_err = max(np.max(np.abs(logits[b] - ref.forward(c, w, list(batch[b, :-1]))[1])) for b in range(len(rows)))
        loss, grads = loss_and_grads(c, w, batch)
        print(f"\n{label}: B={batch.shape[0]}, T={batch.shape[1] - 1}, loss {loss:.10f}, "
              f"logits vs llama_reference.forward max abs diff {fwd_err:.2e}")
        ok &= fwd_err < 1e-12
        for name in param_names(c):
            fd = finite_difference(c, w, batch, name)
            diff = np.abs(grads[name] - fd)
            err = np.max(diff) / max(np.max(np.abs(fd)), 1e-300)
            mag = np.maximum(np.abs(grads[name]), np.abs(fd))
            big = mag > 1e-4 * np.max(np.abs(fd))
            elem = np.max(diff[big] / mag[big]) if big.any() else 0.0
            bad = err > tol or elem > tol
            ok &= not bad
            print(f"  {name:9s} {str(fd.shape):13s} max|g| {np.max(np.abs(fd)):.3e}  error {err:.2e}  "
                  f"elementwise {elem:.2e}{'  FAIL' if bad else ''}")
        # one clipped AdamW step with a small learning rate must lower the loss on the same batch
        clipped, norm, scale = clip_grads(grads, 1.0)
        new = adamw_first_step(w, clipped, 1e-3, 0.9, 0.95, 1e-8, 0.1)
        w2 = dict(w, **new)
        w2["cls"] = w2["wcls"] if c["untied"] else w2["tok"]
        after = model_forward(c, w2, batch[:, :-1], batch[:, 1:])[0]
        print(f"  grad norm {norm:.4f} (clip scale {scale:.4f}); AdamW step lr 1e-3: loss {loss:.6f} -> {after:.6f}"
              f"{'' if after < loss else '  FAIL'}   ({time.time() - start:.1f} s)")
        ok &= after < loss
    print("\nselfcheck " + ("passed" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


def add_subcommands(sub):
    """Register train-step and selfcheck on an argparse subparsers object; returns {name: handler}."""
    t = sub.add_parser("train-step", help="loss, gradients (and optionally one AdamW step) for a batch")
    t.add_argument("--checkpoint", required=True)
    t.add_argument("--batch", required=True, help="B sequences of T+1 ids separated by ';'")
    t.add_argument("--out", required=True, help="raw float64: loss, then every gradient")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--beta1", type=float, default=0.9)
    t.add_argument("--beta2", type=float, default=0.95)
    t.add_argument("--eps", type=float, default=1e-8)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--clip", type=float, default=1.0, help="global gradient norm limit (0: none)")
    t.add_argument("--updated-out", help="raw float64 parameters after one AdamW step")
    sub.add_parser("selfcheck", help="analytic gradients vs finite differences on tiny random models")
    return {"train-step": cmd_train_step, "selfcheck": cmd_selfcheck}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    handlers = add_subcommands(ap.add_subparsers(dest="cmd", required=True))
    a = ap.parse_args()
    handlers[a.cmd](a)


if __name__ == "__main__":
    main()
