#!/usr/bin/env python3
"""Writes a Hugging Face LLaMA checkpoint (config.json, model.safetensors, and tokenizer.model or a byte-level BPE
tokenizer.json) as a llama GGUF file the way llama.cpp's converter lays it out: llama.* metadata, GGUF tensor
names, q/k rows permuted into llama.cpp's rotary order, float tensors kept in their stored type, a `llama`
(SentencePiece) or `gpt2` (byte-level BPE) tokenizer, and for Llama 3 rope scaling the `rope_freqs` tensor of
per-frequency divisors instead of scaling metadata.

Used by the tests to check GGUF loading against the checkpoint's own transformers reference. Needs `gguf` and
`numpy`; the safetensors and SentencePiece files are parsed here directly.

usage: hf-llama-to-gguf.py MODEL_DIR OUT.gguf
"""
import json
import math
import os
import struct
import sys

import numpy as np
import gguf

NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    dtypes = {"F16": np.float16, "F32": np.float32}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def varint(buf, i):
    value, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def sentencepiece_pieces(path):
    """(piece, score, type) of every ModelProto.pieces entry (field 1: piece 1, score 2, type 3)."""
    buf = open(path, "rb").read()
    pieces, i = [], 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 2:
            length, i = varint(buf, i)
            body, i = buf[i:i + length], i + length
            if field == 1:
                piece, score, kind, j = "", 0.0, 1, 0
                while j < len(body):
                    k, j = varint(body, j)
                    f, w = k >> 3, k & 7
                    if w == 2:
                        n, j = varint(body, j)
                        if f == 1:
                            piece = body[j:j + n].decode("utf-8")
                        j += n
                    elif w == 5:
                        if f == 2:
                            (score,) = struct.unpack("<f", body[j:j + 4])
                        j += 4
                    elif w == 0:
                        v, j = varint(body, j)
                        if f == 3:
                            kind = v
                    else:
                        raise ValueError("unexpected wire type in a piece")
                pieces.append((piece, score, kind))
        elif wire == 0:
            _, i = varint(buf, i)
        elif wire == 5:
            i += 4
        elif wire == 1:
            i += 8
        else:
            raise ValueError("unexpected wire type")
    return pieces


def llama3_rope_factors(rope, head_dim):
    """llama.cpp's `rope_freqs` for a `llama3` rope config: the divisor of each inverse frequency, so that
    base^(-2i/d) / factor_i is the frequency transformers' llama3 scaling gives."""
    base = rope.get("rope_theta", 10000.0)
    factor = rope.get("factor", 8.0)
    low, high = rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    original = rope.get("original_max_position_embeddings", 8192)
    low_wavelength, high_wavelength = original / low, original / high
    factors = []
    for i in range(0, head_dim, 2):
        frequency = 1.0 / (base ** (i / head_dim))
        wavelength = 2 * math.pi / frequency
        if wavelength < high_wavelength:
            factors.append(1.0)
        elif wavelength > low_wavelength:
            factors.append(factor)
        else:
            smooth = (original / wavelength - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def add_bpe_tokenizer(writer, model_dir, config):
    """A byte-level BPE tokenizer.json as llama.cpp's `gpt2` tokenizer: tokens by id, merges, special added
    tokens as control tokens (type 3), the others normal (type 1)."""
    tokenizer = json.load(open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8"))
    model = tokenizer["model"]
    if model.get("type") != "BPE":
        raise ValueError("only BPE tokenizer.json files are converted")
    by_id = {i: t for t, i in model["vocab"].items()}
    control = set()
    for added in tokenizer.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        if added.get("special"):
            control.add(added["id"])
    count = max(by_id) + 1
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([by_id.get(i, f"[PAD{i}]") for i in range(count)])
    writer.add_token_types([3 if i in control else 1 for i in range(count)])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_add_bos_token(False)


def permute(w, heads):
    """llama.cpp's rotary row order: within each head, the two halves interleaved."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main(model_dir, out):
    config = json.load(open(os.path.join(model_dir, "config.json")))
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    writer = gguf.GGUFWriter(out, "llama")
    writer.add_name(os.path.basename(os.path.normpath(model_dir)))
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_freq_base(rope.get("rope_theta", config.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    head_dim = config.get("head_dim", config["hidden_size"] // config["num_attention_heads"])
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config["hidden_size"] // config["num_attention_heads"]:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)

    if os.path.exists(os.path.join(model_dir, "tokenizer.model")):
        pieces = sentencepiece_pieces(os.path.join(model_dir, "tokenizer.model"))
        writer.add_tokenizer_model("llama")
        writer.add_token_list([p for p, _, _ in pieces])
        writer.add_token_scores([s for _, s, _ in pieces])
        writer.add_token_types([t for _, _, t in pieces])
        writer.add_bos_token_id(config["bos_token_id"])
        writer.add_eos_token_id(config["eos_token_id"])
        writer.add_unk_token_id(0)
        writer.add_add_bos_token(True)
    else:
        add_bpe_tokenizer(writer, model_dir, config)
    writer.add_add_eos_token(False)

    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type == "llama3":
        writer.add_tensor("rope_freqs.weight", llama3_rope_factors(rope, head_dim))
    elif rope_type != "default":
        raise ValueError(f"rope_type {rope_type!r} is not converted")

    for name, w in tensors.items():
        if name == "model.embed_tokens.weight":
            target = "token_embd.weight"
        elif name == "model.norm.weight":
            target = "output_norm.weight"
        elif name == "lm_head.weight":
            target = "output.weight"
        else:
            parts = name.split(".")
            layer, module = parts[2], ".".join(parts[3:-1])
            target = f"blk.{layer}.{NAMES[module]}.weight"
            if module == "self_attn.q_proj":
                w = permute(w, config["num_attention_heads"])
            elif module == "self_attn.k_proj":
                w = permute(w, config["num_key_value_heads"])
        writer.add_tensor(target, np.ascontiguousarray(w))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
