"""The exact fast path: cached and full engines agree; patches behave as designed."""
import copy
import inspect

import pytest
import torch

from mpn.editing.editor import Editor
from mpn.editing.engines import ENGINES, CachedEngine, Engine
from mpn.editing.methods import PatcherHParams, make_hparams
from mpn.model.classifier import Classifier, predict_logits
from mpn.model.patch import find_ffn_site, merge
from examples import EDIT, LABELS, MEMORY, VAL_MEMORY, wrong_label

@pytest.mark.parametrize("name", sorted(ENGINES))
def test_each_engine_provides_the_written_interface(model_and_tokenizer, name):
    """mpn.editing.engines.Engine is what a method may ask of an engine: every member,
    on each engine, with the declared signature's arguments."""
    model, tokenizer = model_and_tokenizer
    engine = ENGINES[name](copy.deepcopy(model), tokenizer)
    assert isinstance(engine, Engine)
    members = [m for m in dir(Engine) if not m.startswith("_")] + list(Engine.__annotations__)
    assert all(hasattr(engine, m) for m in members), [m for m in members if not hasattr(engine, m)]
    for method in [m for m in dir(Engine) if callable(getattr(Engine, m, None)) and not m.startswith("_")]:
        ours = list(inspect.signature(getattr(engine, method)).parameters)
        declared = list(inspect.signature(getattr(Engine, method)).parameters)[1:]  # without self
        assert ours == declared, method


def test_engines_train_the_same_patch(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    hp = PatcherHParams(n_views=0, max_steps=20, patience=10**6, seed=7)
    results, patches = {}, {}
    for engine in ("cached", "full"):
        editor = Editor(copy.deepcopy(model), tokenizer, "patcher", hp, engine=engine,
                        memory=MEMORY, val_memory=VAL_MEMORY)
        if engine == "cached":
            assert editor.engine.readout is not None  # the tiny BERT trains through mpn.editing.closed_form
        results[engine] = editor.edit(EDIT, target)
        p = editor.engine.patches
        patches[engine] = (p.keys.clone(), p.biases.clone(), p.values.clone(),
                           editor.predict([EDIT] + MEMORY))
    assert results["cached"].steps == results["full"].steps == 20
    for a, b in zip(patches["cached"][:3], patches["full"][:3]):
        assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    assert patches["cached"][3] == patches["full"][3]


def test_cached_logits_equal_full_forward_through_merged_model(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    editor = Editor(model, tokenizer, "patcher", PatcherHParams(max_steps=50), memory=MEMORY,
                    val_memory=VAL_MEMORY)
    for text in (EDIT, "paris is a city in japan"):
        editor.edit(text, wrong_label(model, tokenizer, text))
    texts = [EDIT] + MEMORY + VAL_MEMORY
    cached = editor.engine.predict(texts)
    merged = merge(copy.deepcopy(model))
    assert find_ffn_site(merged).patches is None
    full = predict_logits(merged, tokenizer, texts)
    assert torch.allclose(cached, full, atol=1e-5), (cached - full).abs().max()


def test_single_edit_flips_prediction_and_survives_save_load(model_and_tokenizer, tmp_path):
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    editor = Editor(model, tokenizer, "patcher", PatcherHParams(), memory=MEMORY, val_memory=VAL_MEMORY)
    result = editor.edit(EDIT, target)
    assert result.success and editor.predict([EDIT]) == [target]
    texts = [EDIT] + MEMORY
    before = predict_logits(model, tokenizer, texts)
    model.save_pretrained(tmp_path / "edited")
    loaded = Classifier.from_pretrained(tmp_path / "edited")
    assert loaded.config.n_patches == 1
    assert torch.allclose(predict_logits(loaded, tokenizer, texts), before, atol=1e-6)
    merged = merge(loaded)
    assert torch.allclose(predict_logits(merged, tokenizer, texts), before, atol=1e-5)


def test_patch_is_silent_on_its_memory(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    editor = Editor(model, tokenizer, "patcher", PatcherHParams(), memory=MEMORY, val_memory=VAL_MEMORY)
    editor.edit(EDIT, wrong_label(model, tokenizer, EDIT))
    patches = editor.engine.patches
    memory_preact = patches.preact(editor.engine.features(MEMORY))[:, -1]
    edit_preact = patches.preact(editor.engine.features([EDIT]))[:, -1]
    assert (memory_preact < 0).all(), memory_preact
    assert edit_preact.item() > 0



def test_lr_only_decays_once_the_edit_is_right(model_and_tokenizer):
    """Reduce-on-plateau must not count the steps before the edit is right (README,
    departures). With a tiny lr the loss is flat, so with no lr patience every counted
    step would halve the lr; the held-out memory is the edit itself, so the patch is
    never silent on it and training runs to max_steps."""
    model, tokenizer = model_and_tokenizer
    hparams = PatcherHParams(lr=1e-6, lr_patience=0, max_steps=20, patience=10**6, n_views=0)
    wrong, right = wrong_label(model, tokenizer, EDIT), LABELS[1 - LABELS.index(wrong_label(model, tokenizer, EDIT))]
    results = {}
    for target in (wrong, right):
        editor = Editor(copy.deepcopy(model), tokenizer, "patcher", hparams, memory=MEMORY, val_memory=[EDIT])
        results[target] = editor.edit(EDIT, target)
    assert not results[wrong].success and results[wrong].extras["final_lr"] == hparams.lr      # still searching
    assert results[right].success and results[right].extras["final_lr"] < hparams.lr / 10     # right: settling
    assert results[wrong].steps == results[right].steps == hparams.max_steps


def test_stop_silent_below_keeps_training_a_patch_that_fires_on_held_out_memory(model_and_tokenizer):
    """With the edit itself as held-out memory the patch always fires on it: the stall
    rule alone stops early, with `stop_silent_below` training runs to max_steps."""
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    steps = {}
    for silent_below in (None, 0.0):
        hparams = PatcherHParams(max_steps=150, stop_silent_below=silent_below, n_views=0)
        editor = Editor(copy.deepcopy(model), tokenizer, "patcher", hparams, memory=MEMORY, val_memory=[EDIT])
        result = editor.edit(EDIT, target)
        assert result.success
        steps[silent_below] = result.steps
    assert steps[None] < 150 and steps[0.0] == 150


def test_value_norm_max_bounds_the_trained_value(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    norms = {}
    for bound in (None, 10.0):
        editor = Editor(copy.deepcopy(model), tokenizer, "patcher", PatcherHParams(value_norm_max=bound),
                        memory=MEMORY, val_memory=VAL_MEMORY)
        assert editor.edit(EDIT, target).success
        norms[bound] = editor.engine.patches.values[0].norm().item()
    assert norms[10.0] <= 10.0 + 1e-4 < norms[None]


def test_patches_accumulate_one_per_edit(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    editor = Editor(model, tokenizer, "patcher", PatcherHParams(max_steps=30), memory=MEMORY)
    for i, text in enumerate([EDIT, "paris is a city in japan", "tokyo is a city in france"], 1):
        editor.edit(text, "SUPPORTS")
        assert editor.engine.patches.count == i
    editor.reset()
    assert editor.engine.patches.count == 0
    assert torch.equal(editor.engine.predict([EDIT]), CachedEngine(model, tokenizer).predict([EDIT]))


def test_mpn_trains_on_pool_translations_only(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    translations = {"de": "die währung von japan ist der euro", "es": "la moneda de japan es el euro",
                    "fr": "the currency of japan is the euro"}
    editor = Editor(model, tokenizer, "mpn", {"k_translations": 2}, memory=MEMORY)
    result = editor.edit(EDIT, wrong_label(model, tokenizer, EDIT), translations, heldout={"fr"})
    assert result.languages == ["de", "es"]


def test_unknown_method_engine_and_label_are_one_line_errors(model_and_tokenizer):
    from mpn.core.errors import UserError
    model, tokenizer = model_and_tokenizer
    with pytest.raises(UserError, match="unknown editing method 'rome'"):
        Editor(model, tokenizer, "rome")
    with pytest.raises(UserError, match="unknown engine 'gpu'"):
        Editor(model, tokenizer, "patcher", engine="gpu")
    with pytest.raises(UserError, match="patcher hyperparameter.learning_rate: unknown key"):
        Editor(model, tokenizer, "patcher", {"learning_rate": 1})
    with pytest.raises(UserError, match="unknown target label 'MAYBE'"):
        Editor(model, tokenizer).edit(EDIT, "MAYBE")


class Interrupted(BaseException):
    """Stands for Ctrl-C landing inside an edit: a BaseException, as KeyboardInterrupt is, so
    a library's `except Exception` around the code it lands in (transformers' tensor
    conversion re-raises those as ValueError) passes it on unchanged."""


def exception_chain(error: BaseException | None) -> list[BaseException]:
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


@pytest.mark.parametrize("engine", ["cached", "full"])
def test_an_edit_interrupted_mid_training_leaves_the_model_as_it_was(model_and_tokenizer, engine):
    import signal
    model, tokenizer = model_and_tokenizer
    twin = copy.deepcopy(model)  # the same history without the interrupted edit
    # never settles (the patch fires on its own input, here in the held-out memory, and
    # the stall rule waits forever): trains until the alarm interrupts it
    endless = PatcherHParams(max_steps=10**9, patience=10**9)
    editor = Editor(model, tokenizer, "patcher", PatcherHParams(max_steps=50), engine=engine,
                    memory=MEMORY, val_memory=VAL_MEMORY + [EDIT])
    editor.edit("paris is a city in japan", "SUPPORTS")  # a committed edit that must survive
    probe = [EDIT, "paris is a city in japan"] + MEMORY
    before = predict_logits(model, tokenizer, probe)
    target = wrong_label(model, tokenizer, EDIT)

    def interrupt(signum, frame):
        raise Interrupted()

    editor.hparams = endless
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        # an alarm landing inside the compiled step comes out of numba's dispatcher as a
        # SystemError whose chain holds the handler's exception: an interrupt all the same
        with pytest.raises((Interrupted, SystemError)) as raised:
            editor.edit(EDIT, target)
        assert any(isinstance(e, Interrupted) for e in exception_chain(raised.value)), repr(raised.value)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert torch.is_grad_enabled()  # whatever the interrupt landed in
    assert editor.engine.patches.pending is None and editor.engine.patches.count == 1
    assert editor.n_edits == 1 and len(editor.method.edit_memory) == 1
    assert torch.equal(predict_logits(model, tokenizer, probe), before)
    # the next edit works, and exactly as if the interrupted one had never been tried
    editor.hparams = PatcherHParams(max_steps=50)
    result = editor.edit(EDIT, target)
    reference = Editor(twin, tokenizer, "patcher", PatcherHParams(max_steps=50), engine=engine,
                       memory=MEMORY, val_memory=VAL_MEMORY + [EDIT])
    reference.edit("paris is a city in japan", "SUPPORTS")
    assert result.steps == reference.edit(EDIT, target).steps and editor.engine.patches.count == 2
    assert torch.allclose(predict_logits(model, tokenizer, probe), predict_logits(twin, tokenizer, probe))


def test_mpn_puts_its_translations_into_the_batch(model_and_tokenizer):
    """A "translation" unlike the English input, which the model labels the other way:
    only training on it in the batch (stop_on batch) can make it right."""
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    other = next(t for t in ["nobody is playing music", "a man is playing a guitar", "paris is a city in france",
                             "tokyo is a city in japan"] if wrong_label(model, tokenizer, t) == target)
    memory = [t for t in MEMORY + VAL_MEMORY if t != other]
    for method, right in (("patcher", False), ("mpn", True)):  # patcher: the control
        editor = Editor(copy.deepcopy(model), tokenizer, method, {"k_translations": 1} if method == "mpn" else {},
                        memory=memory)
        editor.edit(EDIT, target, {"de": other})
        assert (editor.predict([other])[0] == target) is right, method


def test_past_edits_join_the_memory(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    translations = {"de": "die währung von japan ist der euro"}
    editor = Editor(model, tokenizer, "mpn", {"max_steps": 20}, memory=MEMORY)
    assert editor.method.edit_memory == []
    editor.edit(EDIT, wrong_label(model, tokenizer, EDIT), translations)
    [remembered] = editor.method.edit_memory
    assert remembered.langs == ("en", "de")
    assert torch.equal(remembered.features, editor.engine.features([EDIT, translations["de"]]))


def test_patch_key_starts_at_the_edit_input(model_and_tokenizer):
    """k = h / ||h||^2, b = 0: with a zero learning rate the committed patch's
    pre-activation on the edit input is exactly 1 (and on other inputs it is not)."""
    model, tokenizer = model_and_tokenizer
    editor = Editor(model, tokenizer, "patcher", PatcherHParams(lr=0.0, max_steps=1), memory=MEMORY)
    editor.edit(EDIT, wrong_label(model, tokenizer, EDIT))
    preact = editor.engine.patches.preact(editor.engine.features([EDIT] + MEMORY))[:, -1]
    assert preact[0].item() == pytest.approx(1.0, abs=1e-5)
    assert (preact[1:] - 1.0).abs().min() > 1e-3


@pytest.mark.parametrize("key_init", ["mean", "centered", "mean_centered"])
def test_key_init_variants_start_where_they_say(model_and_tokenizer, key_init):
    """mean: pre-activation 1 at the mean FFN input of the English and its pool
    translations; centered: also 0 at the memory's mean FFN input."""
    model, tokenizer = model_and_tokenizer
    translations = {"de": "die währung von japan ist der yen", "es": "la moneda de francia es el euro"}
    hp = make_hparams("mpn", {"lr": 0.0, "max_steps": 1, "key_init": key_init, "memory_per_language": 0})
    editor = Editor(model, tokenizer, "mpn", hp, memory=MEMORY)
    editor.edit(EDIT, wrong_label(model, tokenizer, EDIT), translations)
    features = editor.engine.features([EDIT, *translations.values()])
    start = features.mean(0) if key_init.startswith("mean") else features[0]
    preact = editor.engine.patches.preact(torch.stack([start, editor.engine.features(MEMORY).mean(0)]))[:, -1]
    assert preact[0].item() == pytest.approx(1.0, abs=1e-4)
    assert (abs(preact[1].item()) < 1e-4) == key_init.endswith("centered")


def test_edit_rejects_empty_text_and_unknown_language_keys(model_and_tokenizer, caplog):
    from mpn.core.errors import UserError
    model, tokenizer = model_and_tokenizer
    editor = Editor(model, tokenizer, "mpn", {"max_steps": 5}, memory=MEMORY)
    for text, translations, message in [("", {}, "edit text is empty"),
                                        ("  ", {}, "edit text is empty"),
                                        (EDIT, {"de": ""}, r"edit text \(de\) is empty"),
                                        (EDIT, {"xx": "the euro"}, "translation key 'xx' is not a language code"),
                                        (EDIT, {"en": "the euro"}, "translation key 'en'")]:
        with pytest.raises(UserError, match=message):
            editor.edit(text, "SUPPORTS", translations)
    assert editor.engine.patches.count == 0
    lenient = Editor(model, tokenizer, "mpn", {"max_steps": 5}, any_language_key=True)
    assert lenient.edit(EDIT, "SUPPORTS", {"xx": "die währung von japan ist der euro"}).languages == ["xx"]
    short = Editor(model, tokenizer, "patcher", {"max_steps": 5}, max_length=4)
    short.edit(EDIT, "SUPPORTS")
    assert "edit input of 9 tokens is truncated to max_length 4" in caplog.text


def test_missing_model_directory_is_one_line(tmp_path):
    from mpn.core.errors import UserError
    with pytest.raises(UserError, match=f"no model at {tmp_path}/nope: the directory does not exist"):
        Classifier.from_pretrained(str(tmp_path / "nope"))
