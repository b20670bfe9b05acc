#!/usr/bin/env python3
"""Writes a Hugging Face LLaMA checkpoint (config.json, model.safetensors, tokenizer.model) as a llama GGUF file
the way llama.cpp's converter lays it out: llama.* metadata, GGUF tensor names, q/k rows permuted into
llama.cpp's rotary order, float tensors kept in their stored type, and a `llama` (SentencePiece) tokenizer.

Used by the tests to check GGUF loading against the checkpoint's own transformers reference. Needs `gguf` and
`numpy`; the safetensors and SentencePiece files are parsed here directly.

usage: hf-llama-to-gguf.py MODEL_DIR OUT.gguf
"""
import json
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


def permute(w, heads):
    """llama.cpp's rotary row order: within each head, the two halves interleaved."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main(model_dir, out):
    config = json.load(open(os.path.join(model_dir, "config.json")))
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    rope = config.get("rope_parameters") or {}
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

    pieces = sentencepiece_pieces(os.path.join(model_dir, "tokenizer.model"))
    writer.add_tokenizer_model("llama")
    writer.add_token_list([p for p, _, _ in pieces])
    writer.add_token_scores([s for _, s, _ in pieces])
    writer.add_token_types([t for _, _, t in pieces])
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)

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
