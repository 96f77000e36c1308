"""MzsRE-format edits a user brings (mpn.data.mzsre): records become LM facts with
prompts and answers per language, and a bad file or record is one clear error."""
import json

import pytest

from mpn.core.errors import UserError
from mpn.data.mzsre import load_mzsre

RECORDS = [
    {"en": {"src": "Which country is Xanadu in?", "alt": "Mongolia", "rephrase": "Xanadu lies in which country?",
            "answers": ["China"], "loc": "nq question: who wrote hamlet", "loc_ans": "Shakespeare",
            "subject": "Xanadu"},
     "de": {"src": "In welchem Land liegt Xanadu?", "alt": "Mongolei", "rephrase": "Xanadu liegt in welchem Land?",
            "loc": "nq question: wer schrieb hamlet", "loc_ans": "Shakespeare"}},
    {"en": {"src": "Who composed Elegy?", "alt": " Ravel "},
     "es": {"src": "¿Quién compuso Elegía?", "alt": "Ravel"}},
]


def write(tmp_path, records, name="mzsre.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def test_records_become_facts_with_a_spaced_answer_per_language_and_prompt(tmp_path):
    first, second = load_mzsre(write(tmp_path, RECORDS))
    assert (first.group, first.subject, first.value, first.new_value) == ("mzsre-0", "Xanadu", "China", "Mongolia")
    assert [(c.prompt, c.target) for c in first.new["en"]] == [
        ("Which country is Xanadu in?", " Mongolia"), ("Xanadu lies in which country?", " Mongolia")]
    assert first.new["de"][0].target == " Mongolei" and first.true["en"][0].target == " China"
    assert "de" not in first.true   # no true answer given in German
    assert first.unrelated["de"][0].prompt == "nq question: wer schrieb hamlet"
    assert second.subject == "1" and second.new["en"] == second.new["en"][:1]
    assert second.new["en"][0].target == " Ravel" and not second.unrelated


@pytest.mark.parametrize("records, message", [
    ([{"de": {"src": "x", "alt": "y"}}], "record 0: expected an object keyed by language with an 'en' entry"),
    ([RECORDS[0], {"en": {"src": "q?", "alt": ""}}], "record 1: language 'en' lacks alt"),
    ({"en": {}}, "expected a non-empty JSON list"),
])
def test_a_bad_record_names_the_file_the_record_and_the_key(tmp_path, records, message):
    path = write(tmp_path, records)
    with pytest.raises(UserError, match=message) as err:
        load_mzsre(path)
    assert str(path) in str(err.value)


def test_a_file_that_is_not_json_names_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n{"en": {"src": "q", "alt": "a"}},\n{oops}\n]', encoding="utf-8")
    with pytest.raises(UserError, match=r"broken.json:3: not JSON"):
        load_mzsre(path)
    with pytest.raises(UserError, match="no such file"):
        load_mzsre(tmp_path / "missing.json")
