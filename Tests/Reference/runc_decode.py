"""How llama2.c's run.c prints token ids, re-stated in Python for the tokenizer parity tests.

run.c reads tokenizer.bin (int32 max_token_length; per token: float32 score, int32 length,
bytes) into C strings, then for each generated token calls `decode(prev, token)`:
  - right after BOS (1), a leading space of the piece is dropped;
  - a piece that `sscanf(piece, "<0x%02hhX>", &byte)` parses is replaced by that raw byte;
and prints it with `safe_printf`, which prints nothing for a one-byte piece that is neither
printable nor whitespace (isprint/isspace in the C locale).

As in run.c's `generate`, the first id only sets `prev` and is not printed (it is the prompt's
BOS there).

Usage: runc_decode.py --tokenizer F --ids "1 403 12 ..."  (writes the printed bytes to stdout)
       runc_decode.py --tokenizer F --ids ... --no-safe-printf   (without the safe_printf filter)
"""
import argparse
import struct
import sys


def load_vocab(path):
    data = open(path, "rb").read()
    pos = 4
    vocab = []
    while pos < len(data):
        _score, n = struct.unpack_from("<fi", data, pos)
        pos += 8
        raw = data[pos:pos + n]
        pos += n
        vocab.append(raw.split(b"\0", 1)[0])  # a C string ends at the first NUL
    return vocab


def sscanf_byte(piece):
    """The byte `sscanf(piece, "<0x%02hhX>", &b)` reads, or None when it returns 0."""
    if not piece.startswith(b"<0x"):
        return None
    rest = piece[3:]
    digits = b""
    for c in rest[:2]:
        if chr(c) in "0123456789abcdefABCDEF":
            digits += bytes([c])
        else:
            break
    return int(digits, 16) if digits else None


def c_isprint_or_space(b):
    return 0x20 <= b <= 0x7E or b in (0x09, 0x0A, 0x0B, 0x0C, 0x0D)


def decode(vocab, ids, safe_printf=True):
    out = b""
    prev = ids[0]
    for token in ids[1:]:
        piece = vocab[token]
        if prev == 1 and piece[:1] == b" ":
            piece = piece[1:]
        byte = sscanf_byte(piece)
        if byte is not None:
            piece = bytes([byte])
        if safe_printf and len(piece) == 1 and not c_isprint_or_space(piece[0]):
            piece = b""
        out += piece
        prev = token
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--no-safe-printf", action="store_true")
    a = ap.parse_args()
    vocab = load_vocab(a.tokenizer)
    ids = [int(t) for t in a.ids.replace(",", " ").split()]
    sys.stdout.buffer.write(decode(vocab, ids, safe_printf=not a.no_safe_printf))


if __name__ == "__main__":
    main()
