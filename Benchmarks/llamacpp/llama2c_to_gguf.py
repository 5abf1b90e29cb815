#!/usr/bin/env python3
"""Convert a llama2.c legacy (version 0) checkpoint + llama2.c tokenizer.bin to a GGUF F32 model.

Usage:
  PYTHONPATH=<llama.cpp>/gguf-py python3 llama2c_to_gguf.py model.bin tokenizer.bin out.gguf [--name NAME]

Checkpoint layout (as HydraSim's Checkpoint.swift and llama2.c's run.c read it):
  7 x int32 header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative = untied
  classifier), seq_len; then float32: token_embedding (vocab, dim), rms_att (L, dim),
  wq (L, dim, dim), wk (L, kv_dim, dim), wv (L, kv_dim, dim), wo (L, dim, dim), rms_ffn (L, dim),
  w1 (L, hidden, dim), w2 (L, dim, hidden), w3 (L, hidden, dim), rms_final (dim),
  two legacy RoPE tables (seq_len * head_size / 2 floats each, skipped), then wcls (vocab, dim)
  only when untied.

RoPE: llama2.c rotates adjacent pairs (2i, 2i+1) within each head, which is llama.cpp's LLAMA
arch rope type NORM, so wq/wk are written as they are (no HF-style permutation).

Tokenizer: int32 max_token_length, then per token float32 score, int32 len, bytes. Tokens of the
form <0xXX> become BYTE tokens; 0/1/2 are <unk>/<s>/</s>; in all others ' ' becomes U+2581 as
llama.cpp's SentencePiece ("llama") vocab expects.
"""
import argparse
import struct
import sys

import numpy as np
import gguf


def read_checkpoint(path):
    data = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack_from("<7i", data, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    head_size = dim // n_heads
    kv_dim = n_kv_heads * head_size
    f = np.frombuffer(data, dtype="<f4", offset=28)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        t = f[off:off + n].reshape(shape)
        off += n
        return t

    w = {}
    w["tok"] = take(vocab, dim)
    w["rms_att"] = take(n_layers, dim)
    w["wq"] = take(n_layers, dim, dim)
    w["wk"] = take(n_layers, kv_dim, dim)
    w["wv"] = take(n_layers, kv_dim, dim)
    w["wo"] = take(n_layers, dim, dim)
    w["rms_ffn"] = take(n_layers, dim)
    w["w1"] = take(n_layers, hidden, dim)
    w["w2"] = take(n_layers, dim, hidden)
    w["w3"] = take(n_layers, hidden, dim)
    w["rms_final"] = take(dim)
    take(seq_len * head_size // 2)  # freq_cis_real (legacy)
    take(seq_len * head_size // 2)  # freq_cis_imag (legacy)
    w["wcls"] = None if shared else take(vocab, dim)
    if off != f.size:
        sys.exit(f"size mismatch: consumed {off} floats, file has {f.size}")
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
               vocab=vocab, seq_len=seq_len, shared=shared, head_size=head_size)
    return cfg, w


def read_tokenizer(path, vocab):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    off = 4
    toks = []
    for _ in range(vocab):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        toks.append((data[off:off + n], score))
        off += n
    if off != len(data):
        sys.exit(f"tokenizer: {len(data) - off} trailing bytes after {vocab} tokens")
    return toks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("tokenizer", nargs="?", help="llama2.c tokenizer.bin (omit for a placeholder vocab)")
    ap.add_argument("out")
    ap.add_argument("--name", default="llama2c-model")
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--theta", type=float, default=10000.0)
    a = ap.parse_args()

    cfg, w = read_checkpoint(a.model)
    print("config:", cfg)
    V = cfg["vocab"]

    if a.tokenizer:
        raw = read_tokenizer(a.tokenizer, V)
    else:  # placeholder: llama2.c sentencepiece-like layout (unk, bos, eos, 256 bytes, then dummies)
        raw = [(b"<unk>", 0.0), (b"\n<s>\n", 0.0), (b"\n</s>\n", 0.0)]
        raw += [(f"<0x{i:02X}>".encode(), 0.0) for i in range(256)]
        raw += [(f"[tok{i}]".encode(), -float(i)) for i in range(len(raw), V)]
        raw = raw[:V]

    tokens, scores, types = [], [], []
    for i, (b, s) in enumerate(raw):
        t = b.decode("utf-8")
        if i == 0:
            t, ty = "<unk>", gguf.TokenType.UNKNOWN
        elif i == 1:
            t, ty = "<s>", gguf.TokenType.CONTROL
        elif i == 2:
            t, ty = "</s>", gguf.TokenType.CONTROL
        elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            ty = gguf.TokenType.BYTE
        else:
            t, ty = t.replace(" ", "\u2581"), gguf.TokenType.NORMAL
        tokens.append(t)
        scores.append(float(s))
        types.append(ty)

    gw = gguf.GGUFWriter(a.out, "llama")
    gw.add_name(a.name)
    gw.add_context_length(cfg["seq_len"])
    gw.add_embedding_length(cfg["dim"])
    gw.add_block_count(cfg["n_layers"])
    gw.add_feed_forward_length(cfg["hidden"])
    gw.add_head_count(cfg["n_heads"])
    gw.add_head_count_kv(cfg["n_kv_heads"])
    gw.add_layer_norm_rms_eps(a.eps)
    gw.add_rope_freq_base(a.theta)
    gw.add_rope_dimension_count(cfg["head_size"])
    gw.add_vocab_size(V)
    gw.add_file_type(gguf.LlamaFileType.ALL_F32)

    gw.add_tokenizer_model("llama")
    gw.add_token_list(tokens)
    gw.add_token_scores(scores)
    gw.add_token_types(types)
    gw.add_unk_token_id(0)
    gw.add_bos_token_id(1)
    gw.add_eos_token_id(2)
    gw.add_add_bos_token(True)
    gw.add_add_eos_token(False)

    f32 = lambda x: np.ascontiguousarray(x, dtype=np.float32)
    gw.add_tensor("token_embd.weight", f32(w["tok"]))
    for l in range(cfg["n_layers"]):
        p = f"blk.{l}."
        gw.add_tensor(p + "attn_norm.weight", f32(w["rms_att"][l]))
        gw.add_tensor(p + "attn_q.weight", f32(w["wq"][l]))
        gw.add_tensor(p + "attn_k.weight", f32(w["wk"][l]))
        gw.add_tensor(p + "attn_v.weight", f32(w["wv"][l]))
        gw.add_tensor(p + "attn_output.weight", f32(w["wo"][l]))
        gw.add_tensor(p + "ffn_norm.weight", f32(w["rms_ffn"][l]))
        gw.add_tensor(p + "ffn_gate.weight", f32(w["w1"][l]))
        gw.add_tensor(p + "ffn_down.weight", f32(w["w2"][l]))
        gw.add_tensor(p + "ffn_up.weight", f32(w["w3"][l]))
    gw.add_tensor("output_norm.weight", f32(w["rms_final"]))
    if w["wcls"] is not None:
        gw.add_tensor("output.weight", f32(w["wcls"]))
    # tied: no output.weight; llama.cpp then uses token_embd.weight for the classifier

    gw.write_header_to_file()
    gw.write_kv_data_to_file()
    gw.write_tensors_to_file()
    gw.close()
    print("wrote", a.out)


if __name__ == "__main__":
    main()
