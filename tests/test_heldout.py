"""Held out means never trained on: for each edit, no text in a language held out for
that edit enters any term of its loss or stopping rule (mpn.editing.memory). Each test compares
an editor whose memory holds rows in the held-out language with one whose memory never
had them: the trained patches must be identical, bit for bit."""
import copy

import pytest
import torch

from mpn.editing.editor import Editor
from mpn.editing.memory import Memory
from examples import EDIT, MEMORY, VAL_MEMORY, wrong_label

TRANSLATIONS = {"de": "die währung von japan ist der euro", "es": "la moneda de japón es el euro"}
# German rows like the held-out translation itself: a patch silenced on them could not fire there
GERMAN = ["die währung von japan ist der euro", "die währung von japan ist der yen", "paris liegt in japan"]
HPARAMS = {"max_steps": 60, "seed": 1}


def patches(editor):
    p = editor.engine.patches
    return p.keys.clone(), p.biases.clone(), p.values.clone()


def same_patches(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(patches(a), patches(b)))


def edited(model, tokenizer, method="mpn", memory=MEMORY, val_memory=VAL_MEMORY, hparams=HPARAMS):
    editor = Editor(copy.deepcopy(model), tokenizer, method, hparams, memory=memory, val_memory=val_memory)
    editor.edit(EDIT, wrong_label(model, tokenizer, EDIT), TRANSLATIONS, heldout={"de"})
    return editor


def test_memory_without_drops_exactly_the_held_out_rows():
    memory = Memory(torch.arange(8.0).reshape(4, 2), ("en", "de", "en", "es"))
    assert torch.equal(memory.without({"de"}), torch.tensor([[0.0, 1.0], [4.0, 5.0], [6.0, 7.0]]))
    assert memory.without(set()) is memory.features
    assert memory.without({"de", "es", "en"}).shape == (0, 2)


@pytest.mark.parametrize("method", ["mpn", "patcher"])
def test_held_out_rows_in_the_memory_change_nothing(model_and_tokenizer, method):
    """(a) the rotation's held-out language kept in the training memory."""
    model, tokenizer = model_and_tokenizer
    multilingual = edited(model, tokenizer, method, memory={"en": MEMORY, "de": GERMAN})
    english = edited(model, tokenizer, method, memory={"en": MEMORY})
    assert same_patches(multilingual, english)
    # the control: rows in a language not held out do change the patch
    spanish = edited(model, tokenizer, method, memory={"en": MEMORY, "es": GERMAN})
    assert not same_patches(spanish, english)


def test_held_out_rows_in_the_validation_memory_change_nothing(model_and_tokenizer):
    """(b) kept in the validation memory, which the early stop reads."""
    model, tokenizer = model_and_tokenizer
    hparams = {**HPARAMS, "max_steps": 400}
    with_german = edited(model, tokenizer, val_memory={"en": VAL_MEMORY, "de": GERMAN}, hparams=hparams)
    without = edited(model, tokenizer, val_memory={"en": VAL_MEMORY}, hparams=hparams)
    assert same_patches(with_german, without)
    spanish = edited(model, tokenizer, val_memory={"en": VAL_MEMORY, "es": GERMAN}, hparams=hparams)
    assert not same_patches(spanish, without)


def test_a_past_edit_s_row_in_a_held_out_language_is_not_remembered_for_this_edit(model_and_tokenizer):
    """(c) edit 1 trains on de and remembers its German row; edit 2 holds de out, so
    that row enters none of edit 2's terms."""
    model, tokenizer = model_and_tokenizer
    first, second = "paris is a city in japan", EDIT
    editors = []
    for forget_german in (False, True):
        editor = Editor(copy.deepcopy(model), tokenizer, "mpn", HPARAMS, memory=MEMORY, val_memory=VAL_MEMORY)
        editor.edit(first, wrong_label(model, tokenizer, first), {"de": "paris ist eine stadt in japan"})
        assert editor.method.edit_memory[0].langs == ("en", "de")
        if forget_german:  # the editor that never remembered the German row
            past = editor.method.edit_memory[0]
            editor.method.edit_memory = [Memory(past.features[:1], ("en",))]
        editor.edit(second, wrong_label(model, tokenizer, second), TRANSLATIONS, heldout={"de"})
        editors.append(editor)
    assert same_patches(*editors)
