"""The method seam: every registered method, plain and with the MPN augmentation, passes
the same conformance checks on the tiny model."""
import copy
import dataclasses
import sys
from pathlib import Path

import pytest
import torch
import yaml

from mpn.cli import parse_sets
from mpn.editing.editor import Editor
from mpn.editing.method_names import like_for_like, read_presets, split
from mpn.editing.methods import REGISTRY, hparams_class, names, resolve
from mpn.editing.resolver import resolve_method
from mpn.core.errors import UserError
from examples import EDIT, MEMORY, VAL_MEMORY, wrong_label

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
sys.path.insert(0, str(REPO / "bench"))
from transfer_study import parse_variant  # noqa: E402  (a bench script, not a package)

METHODS = [n for n in names() if n != "mpn"]          # mpn is patcher+mpn
AUGMENTED = [n for n in METHODS if resolve(n)[1]]
PROBE = [EDIT, "paris is a city in japan"] + MEMORY + VAL_MEMORY
HPARAMS = {"max_steps": 300}
# the tiny model has 64 FFN weights per output, e5-small 1,536: FT-L needs a wider bound
BY_METHOD = {"ft": {"norm_bound": 0.5}}


def make(model, tokenizer, method, memory=MEMORY, **hparams):
    editor = Editor(copy.deepcopy(model), tokenizer, method,
                    {**HPARAMS, **BY_METHOD.get(method.removesuffix("+mpn"), {}), **hparams},
                    memory=memory, val_memory=VAL_MEMORY)
    logits(editor)  # every probe's features from one batch, in every editor: logits compare bit for bit
    return editor


def logits(editor):
    return editor.engine.predict(PROBE)


def other_text(model, tokenizer, target):
    """A "translation" unlike the edit input that the model labels the other way: only
    training on it can make it right."""
    return next(t for t in ["nobody is playing music", "a man is playing a guitar", "paris is a city in france",
                            "tokyo is a city in japan"] if wrong_label(model, tokenizer, t) == target)


def test_registry_lists_each_method_and_its_augmented_form():
    assert set(names()) == {m for base in REGISTRY for m in (base, base + "+mpn")} | {"mpn"}
    assert resolve("mpn") == resolve("patcher+mpn")


@pytest.mark.parametrize("method", METHODS)
def test_an_edit_flips_the_prediction_and_reset_restores_the_base_logits(model_and_tokenizer, method):
    model, tokenizer = model_and_tokenizer
    editor = make(model, tokenizer, method)
    base = logits(editor)
    target = wrong_label(model, tokenizer, EDIT)
    assert editor.edit(EDIT, target).success and editor.predict([EDIT]) == [target]
    assert not torch.equal(logits(editor), base)
    editor.reset()
    assert torch.equal(logits(editor), base)


@pytest.mark.parametrize("method", METHODS)
def test_save_and_load_keep_the_logits(model_and_tokenizer, method, tmp_path):
    model, tokenizer = model_and_tokenizer
    editor = make(model, tokenizer, method)
    editor.edit(EDIT, wrong_label(model, tokenizer, EDIT))
    editor.edit("paris is a city in japan", wrong_label(model, tokenizer, "paris is a city in japan"))
    editor.save(tmp_path / "edits.safetensors")
    loaded = make(model, tokenizer, method)
    loaded.load(tmp_path / "edits.safetensors")
    for name, tensor in editor.model.state_dict().items():   # every weight bit for bit, not only these logits
        assert torch.equal(loaded.model.state_dict()[name], tensor), name
    assert torch.equal(logits(loaded), logits(editor))


@pytest.mark.parametrize("method", METHODS)
def test_the_same_seed_gives_the_same_edit(model_and_tokenizer, method):
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    runs = []
    for _ in range(2):
        editor = make(model, tokenizer, method, seed=5)
        result = editor.edit(EDIT, target, {"de": "die währung von japan ist der euro",
                                            "es": "la moneda de francia es el euro"})
        runs.append((result.steps, result.loss, result.languages, logits(editor)))
    assert runs[0][:3] == runs[1][:3] and torch.equal(runs[0][3], runs[1][3])


@pytest.mark.parametrize("method", AUGMENTED)
def test_augmented_methods_train_on_translations_and_never_on_held_out_ones(model_and_tokenizer, method):
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    other = other_text(model, tokenizer, target)
    memory = [t for t in MEMORY if t != other]  # the patch must not be kept silent on it
    base_method = split(method)[0]
    for name, right in ((base_method, False), (method, True)):  # the plain method: the control
        editor = make(model, tokenizer, name, memory, **({"k_translations": 1} if name == method else {}))
        result = editor.edit(EDIT, target, {"de": other})
        assert result.languages == (["de"] if name == method else [])
        assert (editor.predict([other])[0] == target) is right, name
    # held out: the edit is exactly the one made with no translation at all
    held, alone = make(model, tokenizer, method), make(model, tokenizer, method)
    result = held.edit(EDIT, target, {"de": other}, heldout={"de"})
    assert result.languages == [] and result.steps == alone.edit(EDIT, target).steps
    assert torch.equal(logits(held), logits(alone))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("method", METHODS)
def test_the_cached_engine_edits_on_the_gpu_as_on_the_cpu(model_and_tokenizer, method):
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    outcomes = {}
    for device in ("cpu", "cuda"):
        editor = Editor(copy.deepcopy(model), tokenizer, method,
                        {**HPARAMS, **BY_METHOD.get(method.removesuffix("+mpn"), {})},
                        memory=MEMORY, val_memory=VAL_MEMORY, device=device)
        result = editor.edit(EDIT, target, {"de": "die währung von japan ist der euro"})
        outcomes[device] = (result.success, result.languages, editor.predict(PROBE))
        editor.reset()
        assert editor.predict(PROBE) == make(model, tokenizer, method).predict(PROBE)
    assert outcomes["cpu"] == outcomes["cuda"]


def test_grace_gives_an_input_the_nearest_key_that_covers_it():
    from mpn.editing.methods.grace import Codebook
    book = Codebook.empty(2)
    wide = book.place(torch.tensor([0.0, 0.0]), None, label=0, radius=3.0)
    narrow = book.place(torch.tensor([2.5, 0.0]), None, label=1, radius=0.5)  # conflict: both radii shrink to 1.25
    book.values[wide], book.values[narrow] = torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0])
    assert book.radii.tolist() == pytest.approx([1.25, 1.25], abs=1e-4)
    book.radii[0] = 3.0  # a radius grown by coverage later
    h = torch.tensor([[1.3, 1.0], [2.4, 0.0], [9.0, 0.0]])  # nearer the narrow key, but outside it; inside it; nowhere
    out = book.replace(h, torch.zeros(3, 2))
    assert out.tolist() == [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]


NEW_METHOD = '''
from dataclasses import dataclass

from mpn.core.knobs import knob
from mpn.editing.methods.ft import FineTune, FTHParams


@dataclass
class WideFTHParams(FTHParams):
    norm_bound: float = knob(0.5, gt=0)


class WideFT(FineTune):
    HParams = WideFTHParams
'''


def test_a_new_method_needs_one_module_one_registry_line_one_params_section(model_and_tokenizer, tmp_path,
                                                                            monkeypatch):
    """A method added from outside: its module, its registry line, its section under
    params.yaml's `hparams`; nothing else, and its `+mpn` form comes with it."""
    (tmp_path / "wide_ft.py").write_text(NEW_METHOD)                       # 1. the module
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(REGISTRY, "wide_ft", "wide_ft:WideFT")              # 2. the registry line
    params = {"hparams": {"wide_ft": {"max_steps": 300}, "mpn": {"k_translations": 1}}}  # 3. the section
    model, tokenizer = model_and_tokenizer
    assert {"wide_ft", "wide_ft+mpn"} <= set(names())
    hparams = resolve_method(params, "wide_ft+mpn").hparams
    assert (hparams.norm_bound, hparams.max_steps, hparams.k_translations) == (0.5, 300, 1)
    editor = Editor(copy.deepcopy(model), tokenizer, "wide_ft+mpn", hparams, memory=MEMORY, val_memory=VAL_MEMORY)
    target = wrong_label(model, tokenizer, EDIT)
    result = editor.edit(EDIT, target, {"de": "die währung von japan ist der euro"})
    assert result.success and result.languages == ["de"]


def test_a_preset_is_its_method_with_exactly_its_settings_from_params_yaml():
    """A preset (params.yaml `presets`) runs its method with its `set` over the method's
    own sections, under the caller's overrides; the method itself is untouched."""
    tuned = resolve_method(PARAMS, "mpn-tuned")
    assert tuned.method == "patcher+mpn"
    settings = {"k_translations": 8, "value_norm_max": 5.0, "act_coef": 25.0}
    assert dataclasses.asdict(tuned.hparams) == dataclasses.asdict(resolve_method(PARAMS, "mpn", settings).hparams)
    assert resolve_method(PARAMS, "mpn-tuned", {"k_translations": 2}).hparams.k_translations == 2
    params = {"hparams": {"patcher": {"lr": 0.02}, "mpn": {"k_translations": 4}}, "presets": PARAMS["presets"]}
    from_params = resolve_method(params, "mpn-tuned").hparams
    assert (from_params.lr, from_params.k_translations, from_params.value_norm_max) == (0.02, 8, 5.0)
    assert resolve_method(params, "mpn").hparams.value_norm_max is None  # mpn itself stays the paper's
    with pytest.raises(UserError, match="unknown editing method 'mpn-tuned'.*presets.*none given"):
        resolve_method({}, "mpn-tuned")


@pytest.mark.parametrize("preset", [n for n, p in read_presets(PARAMS).items() if split(p.method)[1]])
def test_a_preset_of_x_mpn_has_a_like_for_like_x_with_exactly_its_x_knobs(preset):
    """The fair baseline: every setting a preset of X+mpn changes that X also has, applied
    to X, and nothing else (mpn-tuned's k_translations is MPN's alone); a baseline that
    sets anything else is refused."""
    presets = read_presets(PARAMS)
    baseline = like_for_like(preset, presets)
    assert baseline in presets and split(baseline, presets) == (split(preset, presets)[0], False)
    own = {f.name for f in dataclasses.fields(hparams_class(presets[baseline].method))}
    assert presets[baseline].settings == {k: v for k, v in presets[preset].settings.items() if k in own}
    assert set(presets[preset].settings) - own, "a preset that changes no MPN knob is a patcher preset"
    drifted = copy.deepcopy(PARAMS)
    drifted["presets"][baseline]["set"]["lr"] = 0.02
    with pytest.raises(UserError, match=f"presets.{preset}.baseline = '{baseline}': its set is"):
        resolve_method(drifted, "patcher")


def test_a_bad_knob_is_the_same_one_line_error_through_every_route():
    """params.yaml (and `dvc exp run -S`, which writes it), a preset, mpn-edit's --set and a
    bench variant all end in the one resolver: the same check, the route named first."""
    bad = copy.deepcopy(PARAMS)
    bad["hparams"]["patcher"]["act_coef"] = -1
    preset = copy.deepcopy(PARAMS)
    preset["presets"]["mpn-tuned"]["set"]["act_coef"] = -1
    routes = {"hparams.patcher.act_coef": lambda: resolve_method(bad, "mpn"),
              "presets.mpn-tuned.set.act_coef": lambda: resolve_method(preset, "mpn-tuned"),
              "--set: act_coef": lambda: parse_sets(["act_coef=-1"], "mpn", None),
              "variant mpn-tuned:act_coef=-1: act_coef": lambda: parse_variant("mpn-tuned:act_coef=-1", PARAMS)}
    for key, route in routes.items():
        with pytest.raises(UserError) as error:
            route()
        assert str(error.value) == f"{key} = -1; allowed: a number >= 0"


def test_min_steps_keeps_training_past_the_early_stop(model_and_tokenizer):
    """The step-matched control: the same edit, stopped no earlier than min_steps."""
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    steps = []
    for min_steps in (0, 300):
        editor = Editor(model, tokenizer, "patcher", {"min_steps": min_steps}, memory=MEMORY, val_memory=VAL_MEMORY)
        result = editor.edit(EDIT, target)
        assert result.success
        steps.append(result.steps)
        editor.reset()
    assert steps[0] < 300 <= steps[1], steps


@pytest.mark.parametrize("method", ["patcher", "patcher+mpn"])
def test_silencing_lowers_the_new_patchs_bias_below_the_memory_as_far_as_the_edit_holds(model_and_tokenizer, method):
    """`silence_below`: after training, the bias drops by at most what puts every memory
    row under the level; the edit stays right, and nothing else of the patch moves."""
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    translations = {"de": other_text(model, tokenizer, target)} if method != "patcher" else {}
    patches = []
    for silence_below in (None, -6.0):
        editor = make(model, tokenizer, method, silence_below=silence_below)
        result = editor.edit(EDIT, target, translations)
        assert result.success
        patches.append(editor.engine.patches)
        shift = result.extras["bias_shift"]
    plain, silenced = patches
    assert shift >= 0 and torch.equal(plain.keys, silenced.keys) and torch.equal(plain.values, silenced.values)
    assert shift > 0 or method != "patcher"   # the tiny model's English-only patch fires on its memory
    assert silenced.biases[-1].item() == pytest.approx(plain.biases[-1].item() - shift, abs=1e-5)
    memory = editor.engine.features(MEMORY)
    top = silenced.preact(memory)[:, -1].max().item()
    assert top < -6.0 + 1e-4 or editor.predict([EDIT])[0] == target   # silent, or as far as the edit allowed


@pytest.mark.parametrize("method", ["patcher", "patcher+mpn"])
def test_sharpening_scales_the_new_patch_and_narrows_its_dip_on_the_memory(model_and_tokenizer, method):
    """`sharpen`: after training, key and bias grow s times and the value shrinks s times;
    the edit stays right, and where the patch is silent (memory rows) it adds less. If the
    sharper patch breaks the edit (here: MPN's unlike "translation", right only through
    GELU's dip), the patch stays as trained."""
    model, tokenizer = model_and_tokenizer
    target = wrong_label(model, tokenizer, EDIT)
    translations = {"de": other_text(model, tokenizer, target)} if method != "patcher" else {}
    editors = []
    for sharpen in (None, 10.0):
        editor = make(model, tokenizer, method, sharpen=sharpen)
        result = editor.edit(EDIT, target, translations)
        assert result.success
        editors.append(editor)
    plain, sharp = (e.engine.patches for e in editors)
    if method != "patcher":
        assert not result.extras["sharpened"]
        assert all(torch.equal(getattr(plain, t), getattr(sharp, t)) for t in ("keys", "biases", "values"))
        return
    assert result.extras["sharpened"]
    assert torch.allclose(sharp.keys, 10 * plain.keys) and torch.allclose(sharp.biases, 10 * plain.biases)
    assert torch.allclose(sharp.values, plain.values / 10)
    memory = editors[0].engine.features(MEMORY)                      # (rows, hidden)
    plain_pre, sharp_pre = plain.preact(memory)[:, -1], sharp.preact(memory)[:, -1]
    silent = plain_pre < 0
    assert silent.any()
    added = [torch.nn.functional.gelu(a[silent]).abs() * p.values[-1].norm() for a, p in
             ((plain_pre, plain), (sharp_pre, sharp))]                # (silent rows,) each
    assert (added[1] <= added[0]).all() and added[1].sum() < added[0].sum() / 10


def test_largest_right_shift_finds_the_edge_the_edit_survives():
    """The bisection both patch editors' `silence_below` use: all of the excess when the
    edit survives it, none when there is none, else the edge to within excess / 2**12,
    never past it."""
    from mpn.editing.gate import HALVINGS, largest_right_shift
    calls = []

    def right_up_to(edge):
        def right(shift):
            calls.append(shift)
            return shift <= edge
        return right

    assert largest_right_shift(2.0, right_up_to(5.0)) == 2.0
    assert largest_right_shift(-1.0, right_up_to(5.0)) == 0.0
    calls.clear()
    shift = largest_right_shift(2.0, right_up_to(0.7))
    assert 0.7 - 2.0 / 2 ** HALVINGS <= shift <= 0.7 and len(calls) == 1 + HALVINGS
    assert largest_right_shift(2.0, right_up_to(-1.0)) == 0.0   # even the smallest shift breaks it
