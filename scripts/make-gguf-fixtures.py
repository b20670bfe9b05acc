#!/usr/bin/env python3
"""Regenerates Tests/NibbleFormatsTests/Fixtures/ggml-blocks.gguf and ggml-blocks.npz.

The .gguf holds one small tensor of every block type Nibble dequantizes (random block bytes with finite f16
scales, written by gguf-py's GGUFWriter); the .npz holds, under the same names, the float32 values gguf-py's
reference dequantizer (gguf.quants.dequantize) computes from those bytes. Needs `pip install gguf numpy`.
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize
from gguf.constants import GGML_QUANT_SIZES

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "NibbleFormatsTests", "Fixtures")
rng = np.random.default_rng(20261204)

# Byte offsets of the f16 scale fields in each block; every other byte is random.
HALF_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def halves(n):
    """Finite f16 scales of both signs over several magnitudes, including subnormals and zero."""
    v = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-6, 1, n)
    v[:: 7] = 0.0
    v[3:: 11] = 3e-6  # subnormal in f16
    return v.astype(np.float16)


def block_tensor(qtype, rows, blocks_per_row):
    block, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows * blocks_per_row, size), dtype=np.uint8)
    for offset in HALF_FIELDS[qtype]:
        raw[:, offset:offset + 2] = halves(raw.shape[0]).view(np.uint8).reshape(-1, 2)
    return raw.reshape(rows, blocks_per_row * size)


def main():
    writer = gguf.GGUFWriter(os.path.join(OUT, "ggml-blocks.gguf"), "llama")
    writer.add_name("ggml block fixtures")
    references = {}
    for qtype in HALF_FIELDS:
        blocks = 2 if qtype in (T.Q4_K, T.Q5_K, T.Q6_K) else 3
        raw = block_tensor(qtype, 3, blocks)
        name = qtype.name.lower()
        writer.add_tensor(name, raw, raw_dtype=qtype)
        references[name] = dequantize(raw, qtype).astype(np.float32)
    values = (rng.standard_normal((2, 48)) * 10.0 ** rng.uniform(-3, 3, (2, 48))).astype(np.float32)
    writer.add_tensor("f32", values)
    references["f32"] = values
    f16 = values.astype(np.float16)
    writer.add_tensor("f16", f16)
    references["f16"] = dequantize(f16.view(np.uint8), T.F16).astype(np.float32)
    bf16_bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    writer.add_tensor("bf16", bf16_bits.view(np.uint8), raw_dtype=T.BF16)
    references["bf16"] = dequantize(bf16_bits.view(np.uint8), T.BF16).astype(np.float32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    np.savez(os.path.join(OUT, "ggml-blocks.npz"), **references)
    print("wrote", sorted(references), "to", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
