// Checks the hub's audit log in the browser, with WebCrypto: an entry's inclusion in a signed
// tree head (RFC 6962 hashing, the RFC 9162 §2.1.3.2 verification algorithm), and the head's
// checkpoint (C2SP signed note: `<origin>\n<size>\n<base64 root>\n`, a blank line, then
// `— <name> <base64(key id || Ed25519 signature)>`). Nothing here trusts the hub's own word
// that an entry is in the log.

const encoder = new TextEncoder();

export function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToBase64(bytes) {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

async function sha256(...parts) {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

/** RFC 6962 leaf hash: SHA-256(0x00 || entry). */
export function leafHash(entryText) {
  return sha256(LEAF, encoder.encode(entryText));
}

function nodeHash(left, right) {
  return sha256(NODE, left, right);
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * RFC 9162 §2.1.3.2: is `leaf` at `index` of a tree of `size` leaves whose root is `root`,
 * given the audit path `proof` (byte arrays)? Returns `{ ok, reason }`.
 */
export async function verifyInclusion(leaf, index, size, proof, root) {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size)) || index < 0 || index >= size) {
    return { ok: false, reason: `index ${index} is outside a tree of ${size}` };
  }
  // Numbers, not 32-bit bit operations: sizes may exceed 2^31.
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return { ok: false, reason: 'the proof is too long' };
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return { ok: false, reason: 'the proof is too short' };
  if (!equal(r, root)) return { ok: false, reason: 'the recomputed root differs from the signed head' };
  return { ok: true };
}

/** Parses a checkpoint note into its text, origin, size, root and signature lines. */
export function parseCheckpoint(note) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('checkpoint: no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const [origin, size, root] = text.slice(0, -1).split('\n');
  if (!/^[0-9]+$/.test(size || '')) throw new Error('checkpoint: bad tree size');
  const signatures = note
    .slice(split + 2)
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!match) throw new Error('checkpoint: malformed signature line');
      return { name: match[1], blob: base64ToBytes(match[2]) };
    });
  return { text, origin, size: Number(size), root, signatures };
}

/**
 * Verifies the checkpoint's Ed25519 signature with `verifierKey`
 * (`<name>+<hex key id>+<base64(0x01 || public key)>`). Returns `{ ok, reason }`, or
 * `{ ok: null }` when this browser's WebCrypto has no Ed25519.
 */
export async function verifyCheckpoint(note, verifierKey) {
  const checkpoint = parseCheckpoint(note);
  // The base64 part may itself contain '+': split at the first two only.
  const match = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(verifierKey || '');
  if (!match) return { ok: false, reason: 'malformed verifier key' };
  const [, name, keyIdHex, keyB64] = match;
  const keyBytes = base64ToBytes(keyB64 || '');
  if (keyBytes.length !== 33 || keyBytes[0] !== 1) return { ok: false, reason: 'the verifier key is not an Ed25519 key' };
  const publicKey = keyBytes.slice(1);
  const expectedId = (await sha256(encoder.encode(name), encoder.encode('\n'), keyBytes)).slice(0, 4);
  if (Array.from(expectedId, (b) => b.toString(16).padStart(2, '0')).join('') !== keyIdHex) {
    return { ok: false, reason: 'the verifier key id does not match its key' };
  }
  const line = checkpoint.signatures.find((sig) => sig.name === name && equal(sig.blob.slice(0, 4), expectedId));
  if (!line) return { ok: false, reason: 'no signature by this key' };
  let key;
  try {
    key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch {
    return { ok: null, reason: 'this browser cannot check Ed25519 signatures' };
  }
  const valid = await crypto.subtle.verify({ name: 'Ed25519' }, key, line.blob.slice(4), encoder.encode(checkpoint.text));
  return valid ? { ok: true, checkpoint } : { ok: false, reason: 'the signature does not verify' };
}

/**
 * The whole check of one entry: the head's signature, that the head's JSON matches its signed
 * note, that the proof is about `entryText` (when given), and its inclusion against that root.
 */
export async function verifyEntry(head, proof, entryText) {
  if (entryText !== undefined && proof.entry !== entryText) {
    return { ok: false, reason: 'the proven entry differs from the one listed' };
  }
  const signature = await verifyCheckpoint(head.checkpoint, head.verifier_key);
  if (signature.ok === false) return { ok: false, reason: `signed head: ${signature.reason}` };
  const checkpoint = parseCheckpoint(head.checkpoint);
  if (checkpoint.size !== head.size || checkpoint.root !== head.root) {
    return { ok: false, reason: 'the head does not match its signed checkpoint' };
  }
  if (proof.kind !== 'inclusion' || proof.tree_size !== head.size) {
    return { ok: false, reason: 'the proof is not for this head' };
  }
  const leaf = await leafHash(proof.entry);
  const inclusion = await verifyInclusion(leaf, proof.index, proof.tree_size, proof.hashes.map(base64ToBytes), base64ToBytes(head.root));
  if (!inclusion.ok) return inclusion;
  return { ok: true, signatureChecked: signature.ok === true, size: head.size, root: head.root };
}
