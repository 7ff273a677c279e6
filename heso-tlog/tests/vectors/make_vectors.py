#!/usr/bin/env python3
"""Computes heso-tlog's reference vectors independently of the Rust code.

Hashing is Python's hashlib; the Merkle algorithms are RFC 9162's (sections 2.1.1, 2.1.3.1
and 2.1.4.1) written plainly and recursively; signing is the `cryptography` package's
Ed25519. Nothing here imports or calls heso.

    python3 heso-tlog/tests/vectors/make_vectors.py

writes tree.json and notes.json next to this script. The Rust tests (tests/vectors.rs) read
them and must agree. Never edit the JSON by hand; change this script and re-run it.
"""

import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = os.path.dirname(os.path.abspath(__file__))


# --- RFC 9162 section 2.1.1: the Merkle tree hash ---------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(action_hash: bytes) -> bytes:
    assert len(action_hash) == 32
    return sha256(b"\x00" + action_hash)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list) -> bytes:
    """MTH(D[n]) over leaf hashes (already hashed with the 0x00 prefix)."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = largest_power_of_two_below(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


# --- RFC 9162 section 2.1.3.1: inclusion proofs -----------------------------------------


def path(m: int, leaves: list) -> list:
    n = len(leaves)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


# --- RFC 9162 section 2.1.4.1: consistency proofs ---------------------------------------


def subproof(m: int, leaves: list, b: bool) -> list:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency(m: int, leaves: list) -> list:
    if m == 0:
        return []
    return subproof(m, leaves, True)


# --- the vectors ------------------------------------------------------------------------

MAX_ROOT_SIZE = 130
ALL_PAIRS_UP_TO = 17
LARGE_SIZES = [31, 32, 33, 63, 64, 65, 127, 128, 129]


def action_hash(i: int) -> bytes:
    """A receipt's action_hash stand-in: 32 deterministic bytes."""
    return sha256(b"heso-tlog vector leaf %d" % i)


def chosen_indexes(n: int) -> list:
    picks = {0, 1, 2, 3, n // 2 - 1, n // 2, n // 2 + 1, n - 3, n - 2, n - 1}
    p = 1
    while p < n:
        picks.update({p - 1, p})
        p *= 2
    return sorted(i for i in picks if 0 <= i < n)


def hexes(hashes: list) -> list:
    return [h.hex() for h in hashes]


def tree_vectors() -> dict:
    action_hashes = [action_hash(i) for i in range(MAX_ROOT_SIZE)]
    leaves = [leaf_hash(a) for a in action_hashes]
    roots = [{"size": n, "root": mth(leaves[:n]).hex()} for n in range(MAX_ROOT_SIZE + 1)]

    sizes = list(range(1, ALL_PAIRS_UP_TO + 1)) + LARGE_SIZES
    inclusion = []
    consistency_cases = []
    for n in sizes:
        indexes = range(n) if n <= ALL_PAIRS_UP_TO else chosen_indexes(n)
        for m in indexes:
            inclusion.append(
                {
                    "name": f"inclusion leaf {m} of {n}",
                    "leaf_index": m,
                    "tree_size": n,
                    "hashes": hexes(path(m, leaves[:n])),
                }
            )
        olds = range(0, n + 1) if n <= ALL_PAIRS_UP_TO else [0] + [i + 1 for i in chosen_indexes(n)]
        for m in olds:
            consistency_cases.append(
                {
                    "name": f"consistency {m} to {n}",
                    "old_size": m,
                    "new_size": n,
                    "hashes": hexes(consistency(m, leaves[:n])),
                }
            )

    # Negative cases: each must fail with the named error.
    leaf5 = leaves[5]
    good = path(5, leaves[:13])
    root13 = mth(leaves[:13])
    root7 = mth(leaves[:7])
    good_c = consistency(7, leaves[:13])
    bad_inclusion = [
        {"name": "wrong leaf", "leaf_index": 5, "tree_size": 13, "leaf": leaves[6].hex(),
         "root": root13.hex(), "hashes": hexes(good), "error": "RootMismatch"},
        {"name": "wrong index", "leaf_index": 4, "tree_size": 13, "leaf": leaf5.hex(),
         "root": root13.hex(), "hashes": hexes(good), "error": "RootMismatch"},
        {"name": "proof one hash short", "leaf_index": 5, "tree_size": 13, "leaf": leaf5.hex(),
         "root": root13.hex(), "hashes": hexes(good[:-1]), "error": "ProofLength"},
        {"name": "proof one hash long", "leaf_index": 5, "tree_size": 13, "leaf": leaf5.hex(),
         "root": root13.hex(), "hashes": hexes(good + [root13]), "error": "ProofLength"},
        {"name": "hashes swapped", "leaf_index": 5, "tree_size": 13, "leaf": leaf5.hex(),
         "root": root13.hex(), "hashes": hexes([good[1], good[0]] + good[2:]),
         "error": "RootMismatch"},
        {"name": "index past the end", "leaf_index": 13, "tree_size": 13, "leaf": leaf5.hex(),
         "root": root13.hex(), "hashes": hexes(good), "error": "IndexOutOfRange"},
        {"name": "root of another size", "leaf_index": 5, "tree_size": 13, "leaf": leaf5.hex(),
         "root": mth(leaves[:12]).hex(), "hashes": hexes(good), "error": "RootMismatch"},
        {"name": "an interior node offered as a leaf, one level up", "leaf_index": 2, "tree_size": 7,
         "leaf": node_hash(leaves[4], leaves[5]).hex(), "root": root7.hex(),
         "hashes": hexes([leaves[6], node_hash(mth(leaves[:2]), mth(leaves[2:4]))]),
         "error": "ProofLength"},
    ]
    bad_consistency = [
        {"name": "old root of another tree", "old_size": 7, "new_size": 13,
         "old_root": mth(leaves[1:8]).hex(), "new_root": root13.hex(), "hashes": hexes(good_c),
         "error": "OldRootMismatch"},
        {"name": "new tree forks after the old one", "old_size": 7, "new_size": 13,
         "old_root": root7.hex(), "new_root": mth(leaves[:7] + leaves[8:14]).hex(),
         "hashes": hexes(good_c), "error": "NewRootMismatch"},
        {"name": "proof one hash short", "old_size": 7, "new_size": 13, "old_root": root7.hex(),
         "new_root": root13.hex(), "hashes": hexes(good_c[:-1]), "error": "ProofLength"},
        {"name": "old larger than new", "old_size": 13, "new_size": 7, "old_root": root13.hex(),
         "new_root": root7.hex(), "hashes": [], "error": "OldLarger"},
        {"name": "equal sizes, different roots", "old_size": 7, "new_size": 7,
         "old_root": root7.hex(), "new_root": mth(leaves[1:8]).hex(), "hashes": [],
         "error": "NewRootMismatch"},
        {"name": "empty old tree with a wrong root", "old_size": 0, "new_size": 7,
         "old_root": root7.hex(), "new_root": root7.hex(), "hashes": [],
         "error": "OldRootMismatch"},
    ]
    return {
        "description": "RFC 9162 Merkle tree over leaf_hash(action_hash(i)); computed by make_vectors.py with hashlib",
        "leaf_rule": "leaf hash = SHA-256(0x00 || action_hash), node = SHA-256(0x01 || left || right)",
        "action_hashes": hexes(action_hashes),
        "leaf_hashes": hexes(leaves),
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency_cases,
        "inclusion_invalid": bad_inclusion,
        "consistency_invalid": bad_consistency,
    }


# --- signed notes, checkpoints, cosignatures --------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + out


def did_key_multibase(public: bytes) -> str:
    return "z" + base58btc(b"\xed\x01" + public)


def raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, sig_type: int, public: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + bytes([sig_type]) + public)[:4]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def signature_line(name: str, kid: bytes, sig: bytes) -> str:
    return "\u2014 " + name + " " + b64(kid + sig) + "\n"


def note_vectors() -> dict:
    operator_seed = bytes(range(32))
    witness_seed = bytes(range(32, 64))
    operator = Ed25519PrivateKey.from_private_bytes(operator_seed)
    witness = Ed25519PrivateKey.from_private_bytes(witness_seed)
    operator_pub = raw_public(operator)
    witness_pub = raw_public(witness)

    multibase = did_key_multibase(operator_pub)
    log_id = "4f9a1c2b7d3e8f60a1b2c3d4e5f60718"
    origin = f"heso.dev/log/{multibase}/{log_id}"

    leaves = [leaf_hash(action_hash(i)) for i in range(10)]
    size = 10
    root = mth(leaves[:size])
    body = f"{origin}\n{size}\n{b64(root)}\n"

    op_kid = key_id(origin, 0x01, operator_pub)
    op_sig = operator.sign(body.encode())
    signed = body + "\n" + signature_line(origin, op_kid, op_sig)

    witness_name = "witness.example/w1"
    timestamp = 1767225600
    w_kid = key_id(witness_name, 0x04, witness_pub)
    message = f"cosignature/v1\ntime {timestamp}\n" + body
    w_sig = witness.sign(message.encode())
    cosig_line = signature_line(witness_name, w_kid, timestamp.to_bytes(8, "big") + w_sig)
    cosigned = signed + cosig_line

    # A checkpoint with an extension line, and one of the empty tree.
    ext_body = f"{origin}\n{size}\n{b64(root)}\nheso-extension example\n"
    ext_signed = ext_body + "\n" + signature_line(
        origin, op_kid, operator.sign(ext_body.encode())
    )
    empty_body = f"{origin}\n0\n{b64(sha256(b''))}\n"
    empty_signed = empty_body + "\n" + signature_line(
        origin, op_kid, operator.sign(empty_body.encode())
    )

    return {
        "description": "C2SP signed-note / tlog-checkpoint / tlog-cosignature vectors; computed by make_vectors.py with hashlib and cryptography's Ed25519",
        "operator": {
            "seed_hex": operator_seed.hex(),
            "public_key_hex": operator_pub.hex(),
            "did_key_multibase": multibase,
            "vkey": f"{origin}+{op_kid.hex()}+{b64(bytes([0x01]) + operator_pub)}",
        },
        "witness": {
            "seed_hex": witness_seed.hex(),
            "public_key_hex": witness_pub.hex(),
            "name": witness_name,
            "vkey": f"{witness_name}+{w_kid.hex()}+{b64(bytes([0x04]) + witness_pub)}",
        },
        "log_id": log_id,
        "origin": origin,
        "checkpoint": {
            "size": size,
            "root_hex": root.hex(),
            "body": body,
            "key_id_hex": op_kid.hex(),
            "signed": signed,
        },
        "cosignature": {
            "timestamp": timestamp,
            "key_id_hex": w_kid.hex(),
            "line": cosig_line,
            "cosigned": cosigned,
        },
        "with_extension": {"signed": ext_signed},
        "empty_tree": {"signed": empty_signed},
    }


def main() -> None:
    for name, data in [("tree.json", tree_vectors()), ("notes.json", note_vectors())]:
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
