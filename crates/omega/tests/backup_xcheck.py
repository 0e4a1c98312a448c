"""A second, independent reader of Ômega backups (docs/backup.md), used by tests/backup.rs.

Argon2id and ChaCha20-Poly1305 come from the `cryptography` package (>= 44); HChaCha20 (which
turns ChaCha20-Poly1305 into XChaCha20-Poly1305) is written out here from its specification.
Usage: backup_xcheck.py BACKUP  (passphrase in env OMEGA_PASSPHRASE). Prints the manifest and the entries
as JSON; exits non-zero if anything does not check.
"""
import hashlib
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

HEADER_LEN = 95
TAG_LEN = 16


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
    data = open(sys.argv[1], "rb").read()
    passphrase = os.environ["OMEGA_PASSPHRASE"].encode()
    header = data[:HEADER_LEN]
    assert header[:8] == b"OMEGABAK", "magic"
    assert struct.unpack(">HBB", header[8:12]) == (1, 1, 1), "version and algorithms"
    m_kib, t, p = struct.unpack(">III", header[12:24])
    salt, prefix = header[24:40], header[40:59]
    (chunk_len,) = struct.unpack(">I", header[59:63])
    master = Argon2id(salt=salt, length=32, iterations=t, lanes=p, memory_cost=m_kib).derive(passphrase)
    assert hashlib.sha256(b"omega/backup/v1/check\0" + master).digest() == header[63:95], "key check"
    key = hashlib.sha256(b"omega/backup/v1/key\0" + master).digest()
    body, plain, index = data[HEADER_LEN:], bytearray(), 0
    while True:
        piece, body = body[: chunk_len + TAG_LEN], body[chunk_len + TAG_LEN :]
        last = len(piece) < chunk_len + TAG_LEN
        nonce = prefix + struct.pack(">I", index) + bytes([last])
        plain += xchacha20poly1305_open(key, nonce, piece, header)
        index += 1
        if last:
            assert not body, "data after the final chunk"
            break
        assert body, "no final chunk"
    entries, manifest, at = [], None, 0
    while plain[at] == 1:
        (name_len,) = struct.unpack(">B", plain[at + 1 : at + 2])
        name = plain[at + 2 : at + 2 + name_len].decode()
        (size,) = struct.unpack(">Q", plain[at + 2 + name_len : at + 10 + name_len])
        content = plain[at + 10 + name_len : at + 10 + name_len + size]
        assert len(content) == size, name
        if name == "manifest.json":
            manifest = json.loads(content)
        entries.append({"name": name, "size": size})
        at += 10 + name_len + size
    assert plain[at] == 0 and at + 1 == len(plain), "end marker last"
    print(json.dumps({"manifest": manifest, "entries": entries, "chunks": index}))


main()
