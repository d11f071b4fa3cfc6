"""A block's `logsBloom`: the 2048-bit filter every EVM block header carries over the addresses and topics of the
block's logs, read to tell whether a contract may have logged in a block without asking for its logs.

Each entry (a log's 20 address bytes, or one of its 32-byte topics) sets three bits: for each of the byte pairs
(0, 1), (2, 3) and (4, 5) of the entry's keccak256, the pair read big-endian and kept to its low 11 bits is the
index of a bit counted from the least significant end of the 256-byte big-endian filter. Bit `index` is thus in
byte `255 - index // 8`, at the value `1 << (index % 8)` of that byte.

A bloom never misses an entry that is in it (no false negative) and may flag one that is not (a false positive,
rarer the fewer logs the block has): a block whose bloom does not flag an address holds no log of it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from eth_utils import keccak

BLOOM_BYTES = 256
_INDEX_MASK = 0x7FF  # 11 bits: 2048 positions


def bloom_bits(entry: bytes) -> tuple[tuple[int, int], ...]:
    """The three (byte position, bit value) an entry sets in a bloom (a position may repeat)."""
    digest = keccak(entry)
    bits = []
    for pair in (0, 2, 4):
        index = int.from_bytes(digest[pair:pair + 2], "big") & _INDEX_MASK
        bits.append((BLOOM_BYTES - 1 - index // 8, 1 << (index % 8)))
    return tuple(bits)


def address_bytes(address: str) -> bytes:
    text = address[2:] if address[:2].lower() == "0x" else address
    raw = bytes.fromhex(text)
    if len(raw) != 20:
        raise ValueError(f"{address!r} is not a 20-byte address")
    return raw


def bloom_of(text: str | None) -> bytes:
    """The bloom of a header's `logsBloom` hex; empty when the node gave none or one of another size (nothing can
    be told from it: `flags` then flags everything)."""
    if not isinstance(text, str):
        return b""
    try:
        raw = bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)
    except ValueError:
        return b""
    return raw if len(raw) == BLOOM_BYTES else b""


def logs_bloom(logs: Iterable[tuple[str, Iterable[str]]]) -> bytes:
    """The bloom of logs given as (address, topics), as a block header carries it."""
    bloom = bytearray(BLOOM_BYTES)
    for address, topics in logs:
        entries = [address_bytes(address), *(bytes.fromhex(topic[2:]) for topic in topics)]
        for entry in entries:
            for position, value in bloom_bits(entry):
                bloom[position] |= value
    return bytes(bloom)


def may_contain(bloom: bytes, address: str) -> bool:
    """Whether the bloom flags the address (an empty bloom flags everything)."""
    if len(bloom) != BLOOM_BYTES:
        return True
    return all(bloom[position] & value for position, value in bloom_bits(address_bytes(address)))


def flags(blooms: list[bytes], addresses: list[str]) -> np.ndarray:
    """bool[len(blooms), len(addresses)]: which bloom flags which address (an empty bloom flags every address)."""
    flagged = np.ones((len(blooms), len(addresses)), dtype=bool)
    if not blooms or not addresses:
        return flagged
    known = np.array([len(bloom) == BLOOM_BYTES for bloom in blooms], dtype=bool)
    matrix = np.frombuffer(b"".join(bloom for bloom in blooms if len(bloom) == BLOOM_BYTES),
                           dtype=np.uint8).reshape(-1, BLOOM_BYTES)
    for column, address in enumerate(addresses):
        hit = np.ones(len(matrix), dtype=bool)
        for position, value in bloom_bits(address_bytes(address)):
            hit &= (matrix[:, position] & value) != 0
        flagged[known, column] = hit
    return flagged
