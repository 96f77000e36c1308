"""Decoder LMs as edit targets (mpn.model.lm): the last MLP found by structure in a
gated (Llama, Gemma 3) and a plain (GPT-2) model, and the closed form from cached MLP
inputs equal to the full model with the patches hooked in."""
import copy
import json
from pathlib import Path

import pytest
import torch
from tiny import LM_KINDS, make_tiny_lm

from mpn.model.lm import LMPatches, find_lm_site

@pytest.mark.parametrize("kind, gated, post_norm", [("llama", True, False), ("gemma3", True, True),
                                                    ("qwen2", True, False), ("gpt2", False, False)])
def test_cached_logits_equal_the_hooked_full_model(kind, gated, post_norm):
    model = make_tiny_lm(kind)
    site = find_lm_site(model)
    assert site.gated == gated and (site.post_norm is not None) == post_norm
    ids = torch.randint(1, 97, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # a padded row
    h, residual = site.capture(ids, mask)                              # (batch, seq, hidden) each
    base = model(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(site.logits(h, residual, None), base, atol=1e-5)
    patches = LMPatches(site.hidden, site.activation, gated)
    site.install(patches)
    g = torch.Generator().manual_seed(1)
    for _ in range(2):  # a committed patch and a pending one, both large enough to move the logits
        patches.start(h[0, 3], torch.randn(site.hidden, generator=g), 0.5, torch.randn(site.hidden, generator=g))
        patches.commit()
    patches.start(h[1, 2], torch.randn(site.hidden, generator=g), -0.5, torch.randn(site.hidden, generator=g))
    full = model(input_ids=ids, attention_mask=mask).logits           # (batch, seq, vocab)
    assert not torch.allclose(full, base, atol=1e-3)
    assert torch.allclose(site.logits(h, residual, patches), full, atol=1e-5)


CORPUS = ["the currency of japan is the yen", "die währung von japan ist der yen",
          "la moneda de japón es el yen", "la monnaie du japon est le yen", "euro",
          "paris is a city in france", "a man is playing a guitar"]


@pytest.fixture()
def lm_and_tokenizer():  # a fresh model per test: an editor hooks its patches into the model
    from tiny import make_tiny_tokenizer
    tokenizer = make_tiny_tokenizer(CORPUS)
    return make_tiny_lm("llama", tokenizer.vocab_size), tokenizer


def test_an_edit_makes_the_target_the_greedy_completion_and_spares_unrelated_prompts(lm_and_tokenizer):
    from mpn.editing.lm_patcher import LMEditor, locality
    model, tokenizer = lm_and_tokenizer
    memory = ["paris is a city in france", "a man is playing a guitar"]
    editor = LMEditor(model, tokenizer, memory=memory)
    prompt, target = "the currency of japan is the", " euro"
    assert not editor.completes(prompt, target)
    before, log_prob_before = editor.next_token_logits(memory), editor.log_prob(prompt, target)
    result = editor.edit(prompt, target)
    assert result.success and editor.completes(prompt, target) and editor.patches.count == 1
    # the cached closed form (what trained) and the hooked full model agree on the edit
    completion = editor.completion(prompt, target)
    assert editor.site.logits(completion.h, completion.residual, editor.patches).argmax(-1).tolist() == \
        completion.target.tolist()
    assert locality(before, editor.next_token_logits(memory))["top1_agreement"] == 1.0
    # the new object gained probability and is now the likelier completion
    assert editor.log_prob(prompt, target) > log_prob_before
    assert editor.prefers(prompt, target, " yen") and not editor.prefers(prompt, " yen", target)


def test_mpn_trains_on_sampled_translations_and_never_on_held_out_ones(lm_and_tokenizer):
    from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams
    model, tokenizer = lm_and_tokenizer
    editor = LMEditor(model, tokenizer, LMPatcherHParams(k_translations=1))
    translations = {"de": ("die währung von japan ist der", " euro"), "es": ("la moneda de japón es el", " euro"),
                    "fr": ("la monnaie du japon est le", " euro")}
    result = editor.edit("the currency of japan is the", " euro", translations, heldout=["fr"])
    assert result.success and result.languages and "fr" not in result.languages
    with pytest.raises(Exception, match="a prompt and a target with tokens"):
        editor.edit("the currency of japan is the", "")
    assert editor.patches.count == 1 and editor.patches.pending is None  # the failed edit left nothing


def test_the_cached_and_the_full_engine_make_the_same_edit(lm_and_tokenizer):
    """The cached engine is exact: the same steps and the same patch as the full model."""
    from mpn.editing.lm_patcher import LMEditor
    model, tokenizer = lm_and_tokenizer
    memory = ["paris is a city in france", "a man is playing a guitar"]
    results, patches = [], []
    for engine in ("cached", "full"):
        editor = LMEditor(copy.deepcopy(model), tokenizer, memory=memory, engine=engine)
        results.append(editor.edit("the currency of japan is the", " euro"))
        patches.append(torch.cat([editor.patches.gate_keys, editor.patches.values], 1))
    assert results[0].success and results[0].steps == results[1].steps
    assert torch.allclose(patches[0], patches[1], atol=1e-4)


def test_an_earlier_edit_joins_the_memory_and_survives_the_next(lm_and_tokenizer):
    from mpn.editing.lm_patcher import LMEditor
    model, tokenizer = lm_and_tokenizer
    editor = LMEditor(model, tokenizer, memory=["paris is a city in france"])
    unrelated = editor.memory.shape[0]
    assert editor.edit("the currency of japan is the", " euro").success
    assert editor.memory.shape[0] == unrelated + 1   # the one target position it trained on
    assert editor.edit("la moneda de japón es el", " guitar").success
    assert editor.completes("the currency of japan is the", " euro")


def test_the_gemma_weights_are_joined_only_when_their_sha256_matches(tmp_path):
    import hashlib

    from mpn.core.errors import UserError
    from mpn.model.gemma import join_chunks
    chunks = []
    for i, data in enumerate((b"first part ", b"second part")):
        chunks.append(tmp_path / f"c{i}")
        chunks[-1].write_bytes(data)
    digest = hashlib.sha256(b"first part second part").hexdigest()
    assert join_chunks(chunks, tmp_path / "model.gguf", digest).read_bytes() == b"first part second part"
    with pytest.raises(UserError, match="SHA-256 .* expected 0+; reinstall"):
        join_chunks(chunks, tmp_path / "other.gguf", "0" * 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0", "c1", "model.gguf"]   # nothing half-written
    with pytest.raises(UserError, match="chunk files missing: .*nope"):
        join_chunks([tmp_path / "nope"], tmp_path / "x.gguf", digest)


def test_a_causal_lm_loads_from_a_local_folder_and_a_bad_name_is_one_clear_error(tmp_path, lm_and_tokenizer):
    from mpn.core.errors import UserError
    from mpn.model.lm import load_causal_lm
    model, tokenizer = lm_and_tokenizer
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    loaded, _ = load_causal_lm(str(tmp_path / "tiny"))
    ids = torch.tensor([[5, 6, 7]])
    assert torch.equal(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    with pytest.raises(UserError, match="cannot load causal LM .*'gemma-3-270m'"):
        load_causal_lm(str(tmp_path / "missing"))


@pytest.mark.parametrize("kind", LM_KINDS)
def test_an_edited_lm_saves_merged_and_reloads_with_transformers_alone(kind, tmp_path):
    """The patches become units of the last MLP: the folder loads with transformers alone
    (mpn blocked) and gives the editor's next-token logits; it loads back for more edits."""
    from tiny import make_tiny_lm_tokenizer

    from mpn.editing.lm_patcher import LMEditor
    from mpn.model.lm import load_causal_lm
    from mpn.model.lm_portable import next_token_logits_without_mpn, save_edited_lm
    tokenizer = make_tiny_lm_tokenizer(kind, CORPUS)
    editor = LMEditor(make_tiny_lm(kind, len(tokenizer)), tokenizer, memory=["paris is a city in france"])
    first = editor.edit("the currency of japan is the", " euro")
    editor.edit("la moneda de japón es el", " guitar")   # right or not, its patch is saved like the first
    prompts = ["the currency of japan is the", "la moneda de japón es el", "a man is playing a", "paris is a"]
    folder = save_edited_lm(editor, tokenizer, tmp_path / "edited")
    config = json.loads((folder / "config.json").read_text())
    assert config["mpn_extra_units"] == 2 and config["architectures"] == ["EditedForCausalLM"]
    reloaded = next_token_logits_without_mpn(folder, editor, prompts)                   # (prompts, vocab)
    expected = editor.next_token_logits(prompts)
    assert (reloaded - expected).abs().max().item() < 1e-4
    assert reloaded.argmax(-1).tolist() == expected.argmax(-1).tolist()
    # the saved folder is a model to edit again: its units stay, a third patch joins them
    model, _ = load_causal_lm(str(folder))
    again = LMEditor(model, tokenizer)
    assert again.completes("the currency of japan is the", " euro") == first.success
    again.edit("paris is a city in", " japan")
    config = json.loads((save_edited_lm(again, tokenizer, tmp_path / "again") / "config.json").read_text())
    assert config["mpn_extra_units"] == 3 and config["mpn_base"] == type(editor.model).__name__


@pytest.mark.parametrize("bound", [-6.0, -20.0])   # reached; out of reach (the edit would break)
def test_silencing_lowers_only_the_new_patchs_bias_and_keeps_the_edit(lm_and_tokenizer, bound):
    """silence_below: after training, the bias falls until the memory is below the bound,
    or as far as the edit stays right; keys and value are the trained ones."""
    from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams
    model, tokenizer = lm_and_tokenizer
    memory = ["paris is a city in france", "a man is playing a guitar", "die währung von japan ist der yen"]
    prompt, target = "the currency of japan is the", " euro"
    editors = {}
    for below in (None, bound):
        editor = LMEditor(copy.deepcopy(model), tokenizer, LMPatcherHParams(patience=1, silence_below=below), memory)
        n_memory = editor.memory.shape[0]
        result = editor.edit(prompt, target)
        assert result.success and editor.completes(prompt, target)
        editors[below] = editor
    plain, silenced = editors[None].patches, editors[bound].patches
    assert torch.equal(plain.gate_keys, silenced.gate_keys) and torch.equal(plain.values, silenced.values)
    unrelated = editors[None].memory[:n_memory]
    assert plain.preact(unrelated).max() > bound   # the patience stop left it above the bound
    shift = (plain.biases - silenced.biases).item()
    assert shift > 0 and result.extras["bias_shift"] == pytest.approx(shift, abs=1e-5)
    if silenced.preact(unrelated).max() > bound + 1e-4:   # stopped short: a little further breaks the edit
        silenced.biases.data -= 0.05 * shift
        assert not editors[bound].completes(prompt, target)
    else:
        assert silenced.preact(unrelated).max() == pytest.approx(bound, abs=1e-4)


def test_sharpening_scales_the_new_gate_and_value_and_keeps_the_edit(lm_and_tokenizer):
    """sharpen: after training, the gate key and bias grow s times, the value shrinks s
    times, the up key is the trained one; the edit stays right."""
    from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams
    model, tokenizer = lm_and_tokenizer
    memory = ["paris is a city in france", "a man is playing a guitar"]
    prompt, target = "the currency of japan is the", " euro"
    editors = []
    for sharpen in (None, 10.0):
        editor = LMEditor(copy.deepcopy(model), tokenizer, LMPatcherHParams(patience=1, sharpen=sharpen), memory)
        result = editor.edit(prompt, target)
        assert result.success and editor.completes(prompt, target)
        assert result.extras["sharpened"] is (None if sharpen is None else True)
        editors.append(editor.patches)
    plain, sharp = editors
    assert torch.allclose(sharp.gate_keys, 10 * plain.gate_keys) and torch.allclose(sharp.biases, 10 * plain.biases)
    assert torch.allclose(sharp.values, plain.values / 10) and torch.equal(sharp.up_keys, plain.up_keys)


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_ft_l_bounds_each_weights_change_and_its_engines_agree(kind):
    """FT-L on a causal LM: the edit holds, no weight of the output projection moves more
    than norm_bound, and the cached engine makes the full model's edit."""
    from tiny import make_tiny_tokenizer
    from mpn.editing.lm_ft import LMFineTuneHParams, LMFineTuner
    tokenizer = make_tiny_tokenizer(CORPUS)
    model = make_tiny_lm(kind, tokenizer.vocab_size)
    hparams = LMFineTuneHParams(lr=1e-2, norm_bound=5e-3)   # a bound the first step already reaches
    deltas, steps = [], []
    for engine in ("cached", "full"):
        editor = LMFineTuner(copy.deepcopy(model), tokenizer, hparams, engine=engine)
        assert not editor.completes("the currency of japan is the", " euro")
        result = editor.edit("the currency of japan is the", " euro")
        assert result.success and editor.completes("the currency of japan is the", " euro")
        deltas.append(editor.delta.delta.clone())
        steps.append(result.steps)
    assert deltas[0].abs().max().item() == pytest.approx(5e-3)
    assert steps[0] == steps[1] and torch.allclose(deltas[0], deltas[1], atol=1e-6)


def test_ft_l_with_mpn_never_trains_on_a_held_out_language(lm_and_tokenizer):
    from mpn.editing.lm_ft import LMFineTuneHParams, LMFineTuner
    model, tokenizer = lm_and_tokenizer
    editor = LMFineTuner(model, tokenizer, LMFineTuneHParams(k_translations=1, norm_bound=1e-3))
    translations = {"de": ("die währung von japan ist der", " euro"), "es": ("la moneda de japón es el", " euro"),
                    "fr": ("la monnaie du japon est le", " euro")}
    result = editor.edit("the currency of japan is the", " euro", translations, heldout=["fr", "de"])
    assert result.languages == ["es"]
    before = editor.delta.delta.clone()
    with pytest.raises(Exception, match="a prompt and a target with tokens"):
        editor.edit("the currency of japan is the", "")
    assert torch.equal(editor.delta.delta, before) and editor.delta.pending is None and editor.delta.count == 1


@pytest.mark.parametrize("kind", ["llama", "gemma3"])   # a norm after the MLP or none
def test_a_patch_in_an_earlier_layer_edits_with_the_full_engine_and_reloads(kind, tmp_path):
    """`layer` puts the patches in another layer's MLP: the cached engine refuses it (its
    closed form holds for the last layer only), the full one edits, and the saved folder
    widens that layer and gives the editor's logits with transformers alone."""
    from tiny import make_tiny_lm_tokenizer

    from mpn.core.errors import UserError
    from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams
    from mpn.model.lm import load_causal_lm
    from mpn.model.lm_portable import check_layer, next_token_logits_without_mpn, save_edited_lm
    tokenizer = make_tiny_lm_tokenizer(kind, CORPUS)
    model = make_tiny_lm(kind, len(tokenizer))
    hparams = LMPatcherHParams(layer=0, lr=0.2)
    with pytest.raises(UserError, match="cached engine is exact only for the last layer"):
        LMEditor(copy.deepcopy(model), tokenizer, hparams)
    with pytest.raises(UserError, match="layer 2: the model has 2 layers"):
        check_layer(model, 2)
    editor = LMEditor(model, tokenizer, hparams, memory=["paris is a city in france"], engine="full")
    assert editor.site.layer == 0 and not editor.site.last
    assert editor.edit("the currency of japan is the", " euro").success
    folder = save_edited_lm(editor, tokenizer, tmp_path / "edited")
    config = json.loads((folder / "config.json").read_text())
    assert config["mpn_layer"] == 0 and config["mpn_extra_units"] == 1
    prompts = ["the currency of japan is the", "a man is playing a"]
    reloaded = next_token_logits_without_mpn(folder, editor, prompts)
    assert (reloaded - editor.next_token_logits(prompts)).abs().max().item() < 1e-4
    saved, _ = load_causal_lm(str(folder))
    with pytest.raises(UserError, match="merged into layer 0"):
        check_layer(saved, -1)


def test_grace_covers_the_edit_and_no_memory_position_and_its_engines_agree(lm_and_tokenizer):
    """GRACE on a causal LM: a key per target position, radii short of every memory
    position (so the memory's next tokens stay), values the cached and full engines train
    alike; +mpn keys the sampled translations too, never a held-out one."""
    from mpn.core.errors import UserError
    from mpn.editing.lm_grace import LMGrace, LMGraceHParams
    model, tokenizer = lm_and_tokenizer
    memory = ["paris is a city in france", "a man is playing a guitar"]
    values, steps = [], []
    for engine in ("cached", "full"):
        editor = LMGrace(copy.deepcopy(model), tokenizer, memory=memory, engine=engine)
        before = editor.next_token_logits(memory).argmax(-1)
        result = editor.edit("the currency of japan is the", " euro")
        assert result.success and editor.completes("the currency of japan is the", " euro")
        assert torch.equal(editor.next_token_logits(memory).argmax(-1), before)
        assert (torch.cdist(editor.memory, editor.codebook.keys).min(0).values > editor.codebook.radii).all()
        values.append(editor.codebook.values.clone())
        steps.append(result.steps)
    assert steps[0] == steps[1] and torch.allclose(values[0], values[1], atol=1e-5)
    editor = LMGrace(model, tokenizer, LMGraceHParams(k_translations=1), memory=memory)
    translations = {"de": ("die währung von japan ist der", " euro"), "fr": ("la monnaie du japon est le", " euro")}
    result = editor.edit("the currency of japan is the", " euro", translations, heldout=["fr"])
    assert result.success and result.languages == ["de"]
    assert editor.codebook.keys.shape[0] == editor.n_target_tokens(" euro") * (1 + len(result.languages))
    with pytest.raises(UserError, match="needs memory prompts"):
        LMGrace(model, tokenizer)


@pytest.mark.parametrize("engine", ["cached", "full"])
@pytest.mark.parametrize("kind", LM_KINDS)
def test_batched_judgments_equal_each_text_run_alone(kind, engine):
    """Judging many prompts at once gives what one forward a text gives: the full engine's
    texts of different lengths right-padded into one forward, the vocabulary projection only
    where read; the cached engine's closed form from the unedited states, captured once."""
    from tiny import make_tiny_tokenizer

    from mpn.editing.lm_patcher import LMEditor
    tokenizer = make_tiny_tokenizer(CORPUS)
    model = make_tiny_lm(kind, tokenizer.vocab_size)
    editor = LMEditor(model, tokenizer, memory=CORPUS[4:], engine=engine)
    assert editor.edit("the currency of japan is the", " euro").success   # judged with its patch
    pairs = [("the currency of japan is the", " euro"), ("la moneda de japón es el", " yen"),
             ("paris is a city in", " france"), ("the currency of japan is the", " yen euro")]
    for (prompt, target), (complete, log_prob) in zip(pairs, editor.scores(pairs)):
        prompt_ids, target_ids = editor._ids(prompt, target)
        ids = torch.tensor([prompt_ids + target_ids[:-1]])
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1:]                  # (targets, vocab)
        assert complete == bool((logits.argmax(-1) == torch.tensor(target_ids)).all())
        assert log_prob == pytest.approx(logits.log_softmax(-1)[range(len(target_ids)), target_ids].sum().item(),
                                         abs=1e-4)
    prompts = [p for p, _ in pairs] + CORPUS
    alone = torch.stack([model(input_ids=torch.tensor([editor.prompt_ids(p)])).logits[0, -1] for p in prompts])
    assert torch.allclose(editor.next_token_logits(prompts), alone, atol=1e-5)


def test_an_edit_never_sees_the_memory_of_a_language_held_out_for_it(lm_and_tokenizer):
    """The held-out protocol on an LM: memory rows (unrelated, and those past edits trained
    on) in a language held out for an edit enter no term of its loss, nor its key's centre."""
    from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams
    model, tokenizer = lm_and_tokenizer
    memory = {"en": ["paris is a city in france"], "fr": ["paris est une ville de france", "le chat est noir"]}
    editor = LMEditor(model, tokenizer, LMPatcherHParams(k_translations=1), memory=memory)
    n_en = editor.memory_langs.count("en")
    assert n_en and editor.memory_langs.count("fr") and len(editor.memory_langs) == editor.memory.shape[0]
    seen, center = editor._memory_for(frozenset({"fr"}))
    assert seen.shape[0] == n_en and torch.allclose(center, editor.memory[:n_en].mean(0))
    translations = {"de": ("die währung von japan ist der", " euro"), "fr": ("la monnaie du japon est le", " euro")}
    result = editor.edit("the currency of japan is the", " euro", translations, heldout=["fr"])
    assert result.languages == ["de"]
    assert editor.memory_langs[-2:] == ["en", "de"]   # its trained positions joined the memory, with their language
    assert editor._memory_for(frozenset({"de"}))[0].shape[0] == editor.memory.shape[0] - 1


def test_a_pipeline_method_resolves_to_its_lm_form_with_the_presets_knobs():
    import yaml

    from mpn.core.errors import UserError
    from mpn.editing.lm_methods import resolve_lm_method
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    tuned = resolve_lm_method(params, "mpn-tuned")
    assert tuned["method"] == "mpn" and tuned["not_applicable"] == []
    assert tuned["hparams"] | {"k_translations": 8, "value_norm_max": 5.0, "act_coef": 25.0} == tuned["hparams"]
    baseline = resolve_lm_method(params, "patcher-tuned")
    assert baseline["hparams"] == tuned["hparams"] | {"k_translations": 0}   # like for like: only the translations differ
    assert resolve_lm_method(params, "ft+mpn")["hparams"]["k_translations"] == 2
    params["presets"]["mpn-views"] = {"method": "patcher+mpn", "set": {"n_views": 16}}
    assert resolve_lm_method(params, "mpn-views")["not_applicable"] == ["n_views"]
    params["lm"]["hparams"]["patcher"]["lr"] = -1
    with pytest.raises(UserError, match="lm.hparams.patcher.lr"):
        resolve_lm_method(params, "patcher")
