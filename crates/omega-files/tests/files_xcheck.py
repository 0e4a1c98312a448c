#!/usr/bin/env python3
"""A second reader of Ômega's encrypted files, written from docs/files.md.

usage: files_xcheck.py MANIFEST CHUNK_DIR
MANIFEST is the binary manifest; CHUNK_DIR holds one file per sealed chunk, named by its id in
hex. Prints JSON: name, mime, size, chunk count, the plaintext's SHA-256 (as recomputed) and
whether it matches the manifest's.
"""

import hashlib
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305


def rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def quarter_round(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    s = list(struct.unpack("<4I", b"expand 32-byte k"))
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        quarter_round(s, 0, 4, 8, 12); quarter_round(s, 1, 5, 9, 13)
        quarter_round(s, 2, 6, 10, 14); quarter_round(s, 3, 7, 11, 15)
        quarter_round(s, 0, 5, 10, 15); quarter_round(s, 1, 6, 11, 12)
        quarter_round(s, 2, 7, 8, 13); quarter_round(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha20poly1305_open(key, nonce24, sealed, aad):
    subkey = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(subkey).decrypt(b"\0\0\0\0" + nonce24[16:], sealed, aad)


def main():
    m = open(sys.argv[1], "rb").read()
    chunk_dir = sys.argv[2]
    assert m[:8] == b"OMEGAFIL", "magic"
    assert m[8] == 1 and m[9] == 1, "version and aead"
    file_id, key, prefix = m[10:26], m[26:58], m[58:77]
    (size,) = struct.unpack(">Q", m[77:85])
    (chunk_len,) = struct.unpack(">I", m[85:89])
    sha = m[89:121]
    (count,) = struct.unpack(">I", m[121:125])
    assert count == max(1, -(-size // chunk_len)), "chunk count"
    ids = [m[125 + 32 * i : 157 + 32 * i] for i in range(count)]
    at = 125 + 32 * count
    (name_len,) = struct.unpack(">H", m[at : at + 2])
    name = m[at + 2 : at + 2 + name_len].decode()
    at += 2 + name_len
    mime = m[at + 1 : at + 1 + m[at]].decode()
    at += 1 + m[at]
    if m[at] == 1:
        (jpeg_len,) = struct.unpack(">H", m[at + 5 : at + 7])
        at += 7 + jpeg_len
    else:
        assert m[at] == 0, "thumbnail kind"
        at += 1
    assert at == len(m), "trailing bytes"

    aad = b"omega/files/v1/chunk\0" + file_id + struct.pack(">I", chunk_len)
    digest = hashlib.sha256()
    for index, chunk_id in enumerate(ids):
        sealed = open(os.path.join(chunk_dir, chunk_id.hex()), "rb").read()
        assert hashlib.sha256(sealed).digest() == chunk_id, f"chunk {index} id"
        last = index == count - 1
        nonce = prefix + struct.pack(">I", index) + bytes([last])
        plain = xchacha20poly1305_open(key, nonce, sealed, aad)
        expected = chunk_len if not last else size - chunk_len * (count - 1)
        assert len(plain) == expected, f"chunk {index} length"
        digest.update(plain)
    print(json.dumps({
        "name": name,
        "mime": mime,
        "size": size,
        "chunk_count": count,
        "sha256": digest.hexdigest(),
        "matches": digest.digest() == sha,
    }))


if __name__ == "__main__":
    main()
