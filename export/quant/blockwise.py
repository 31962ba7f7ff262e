"""Block-wise n-bit weight quantization with a searched scale, in MatMulNBits' layout (pure numpy).

onnxruntime's own quantizer takes a block's scale from its largest value (symmetric) or from a
range stretched to include 0 (asymmetric). Neither fits weights that are already on another
4-bit grid (a dequantized Q4_0/Q4_1 GGUF), where each element then lands about half a step off.
Here each block of `block_size` weights along K gets the scale and integer zero point with the
least squared error among a few candidates around its min/max range (as llama.cpp's quantizers
search theirs), which halves the 4-bit error on such weights.

Layout (com.microsoft MatMulNBits, weight W [K, N]): B [N, blocks, block_size*bits/8] uint8,
element j of a block in byte j*bits//8, low bits first; scales [N*blocks] float32; zero points
uint8, [N*blocks] at 8 bits, two per byte (low nibble first, ceil(blocks/2) per column) at 4.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SEARCH = np.linspace(0.8, 1.2, 17)  # candidate scales, as fractions of (max - min) / levels


class Blocks(NamedTuple):
    """One weight as MatMulNBits tensors: packed codes, scales, zero points; `offsets` [blocks, N]
    (float32, None when absent) is each block's float minimum, added by a second small MatMul."""

    packed: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray
    offsets: np.ndarray | None = None


def _blocks(w: np.ndarray, block_size: int) -> np.ndarray:
    """[K, N] -> [N, blocks, block_size], K zero-padded to a whole number of blocks."""
    k, n = w.shape
    pad = -k % block_size
    wt = np.pad(w.T.astype(np.float32), ((0, 0), (0, pad)))
    return wt.reshape(n, (k + pad) // block_size, block_size)


def search_codes(b: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer codes, scales and zero points minimizing each block's squared error over SEARCH."""
    top = 2**bits - 1
    lo, hi = b.min(-1, keepdims=True), b.max(-1, keepdims=True)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1e-8))
    best = (None, None, None, np.full(lo.shape, np.inf, dtype=np.float32))
    for f in SEARCH:
        s = span / top * f
        z = np.clip(np.round(-lo / s), 0, top)
        q = np.clip(np.round(b / s) + z, 0, top)
        err = (((q - z) * s - b) ** 2).sum(-1, keepdims=True)
        better = err < best[3]
        best = tuple(np.where(better, new, old) if old is not None else new
                     for new, old in zip((q, s, z, err), best, strict=True))
    q, s, z, _ = best
    return q.astype(np.uint8), s[..., 0].astype(np.float32), z[..., 0].astype(np.uint8)


def offset_codes(b: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Q4_1-style codes: scale (max - min) / levels and a float block minimum, written as codes
    around the middle zero point plus an offset (exact for weights already on such a grid)."""
    top, mid = 2**bits - 1, 2 ** (bits - 1)
    lo, hi = b.min(-1, keepdims=True), b.max(-1, keepdims=True)
    flat = hi <= lo  # a constant block (a zero padding row) is its offset alone: codes at the zero point
    s = np.where(flat, 1.0, (hi - lo) / top)
    q = np.where(flat, mid, np.clip(np.round((b - lo) / s), 0, top))
    z = np.full(s.shape[:-1], mid, dtype=np.uint8)
    offsets = np.where(flat, lo, lo + mid * s)
    return q.astype(np.uint8), s[..., 0].astype(np.float32), z, offsets[..., 0].astype(np.float32)


def quantize_blocks(w: np.ndarray, bits: int, block_size: int, *, offset: bool = False) -> Blocks:
    """W [K, N] float -> MatMulNBits tensors at `bits` (4 or 8): searched integer zero points,
    or (`offset`) min/max scales with the float block minimum as separate offsets."""
    if bits not in (4, 8):
        raise ValueError(f"bits must be 4 or 8, got {bits}")
    b = _blocks(w, block_size)
    offsets = None
    if offset:
        q, s, z, off = offset_codes(b, bits)
        offsets = np.ascontiguousarray(off.T)
    else:
        q, s, z = search_codes(b, bits)
    n, n_blocks, _ = q.shape
    if bits == 4:
        packed = q[..., 0::2] | (q[..., 1::2] << 4)
        z = np.pad(z, ((0, 0), (0, n_blocks % 2)))
        zp = (z[:, 0::2] | (z[:, 1::2] << 4)).reshape(-1)
    else:
        packed, zp = q, z.reshape(-1)
    return Blocks(packed.astype(np.uint8), s.reshape(-1), zp.astype(np.uint8), offsets)


def dequantize_blocks(blocks: Blocks, bits: int, k: int) -> np.ndarray:
    """The [K, N] float weight a MatMulNBits node computes with (inverse of `quantize_blocks`)."""
    n, n_blocks, _ = blocks.packed.shape
    if bits == 4:
        q = np.stack([blocks.packed & 15, blocks.packed >> 4], -1).reshape(n, n_blocks, -1)
        z = np.stack([blocks.zero_points & 15, blocks.zero_points >> 4], -1).reshape(n, -1)[:, :n_blocks]
    else:
        q, z = blocks.packed, blocks.zero_points.reshape(n, n_blocks)
    w = (q.astype(np.float32) - z[..., None]) * blocks.scales.reshape(n, n_blocks, 1)
    if blocks.offsets is not None:
        w = w + blocks.offsets.T[..., None]
    return w.reshape(n, -1)[:, :k].T


def block_sum_matrix(k: int, block_size: int) -> np.ndarray:
    """[K, blocks] of ones: x @ it sums x over each block, the input the offsets multiply."""
    m = np.zeros((k, -(-k // block_size)), dtype=np.float32)
    m[np.arange(k), np.arange(k) // block_size] = 1.0
    return m
