"""Sequential editing streams and the metrics they report, on the tiny model."""
import pytest

from mpn.editing.editor import Editor
from mpn.experiment.metrics import rate, ratio
from mpn.experiment.near import near_groups, near_rows, xfacts_key
from mpn.model.classifier import Classifier, load_encoder
from mpn.editing.methods import make_hparams
from mpn.core.params import EditSettings, section
from mpn.experiment.checkpoints import Checkpoints
from mpn.experiment.heldout import HeldOut, memory_inputs
from mpn.experiment.scoring import edit_rates, language_rows
from mpn.experiment.sequential import SequentialEditing
from mpn.experiment.stream_log import StreamLog
from mpn.experiment.summary import summarize

from examples import LABELS, make_edits


def test_rate_and_ratio_intervals_bracket_the_mean():
    r = rate([1, 0, 1, 1, None], n_bootstrap=200)
    assert r["mean"] == 0.75 and r["low"] <= 0.75 <= r["high"] and r["sd"] == 0
    assert rate([None, None]) is None
    q = ratio([1, 1, 0, 1], [1, 1, 1, 1], n_bootstrap=200)
    assert q["mean"] == 0.75 and 0 <= q["low"] <= q["high"] <= 1
    assert ratio([], []) is None


def test_rates_over_seeds_average_seed_means_and_resample_within_seeds():
    # seed 0: four edits, mean 1.0; seed 1: two edits, mean 0.0 -> mean of means 0.5
    r = rate([1, 1, 1, 1, 0, 0], seeds=[0, 0, 0, 0, 1, 1], n_bootstrap=200)
    assert r["mean"] == 0.5 and r["low"] == r["high"] == 0.5  # no within-seed spread
    assert r["sd"] == round(0.5 ** 0.5, 4)


def test_the_bootstrap_resamples_facts_not_rows():
    """Three seeds that edit the same 30 facts with the same outcomes carry no more
    evidence than one seed: the interval must be exactly one seed's, not the narrower
    one that 90 independent rows would give."""
    outcomes = [1] * 18 + [0] * 12
    facts = [f"fact{i}" for i in range(30)]
    one_seed = rate(outcomes, [0] * 30, facts)
    three_seeds = rate(outcomes * 3, [s for s in range(3) for _ in range(30)], facts * 3)
    assert three_seeds == one_seed
    as_rows = rate(outcomes * 3, [s for s in range(3) for _ in range(30)])  # each row its own fact
    assert as_rows["high"] - as_rows["low"] < 0.8 * (three_seeds["high"] - three_seeds["low"])
    # the same draw for every method: a fact's rows in any order, any subset, give one interval
    assert rate(outcomes[::-1], [0] * 30, facts[::-1]) == one_seed
    assert ratio([1, 0, 1], [1, 1, 1], [0, 0, 0], ["b", "a", "c"], universe=["a", "b", "c", "d"]) == \
        ratio([0, 1, 1], [1, 1, 1], [0, 0, 0], ["a", "b", "c"], universe=["d", "c", "b", "a"])
    # groups that name their fact (XNLI: hypotheses of one premise) are drawn together
    pairs = [f"fact{i}~{h}" for i in range(30) for h in range(3)]
    assert rate([o for o in outcomes for _ in range(3)], [0] * 90, pairs) == one_seed


def test_seen_texts_never_count_as_generalization():
    texts = {"en": ["r1", "r2"], "de": ["t-de", "r-de"], "sw": ["t-sw"]}
    pre = [False, True, False, False, False]
    post = [True, True, True, False, True]
    langs = language_rows(texts, pre, post, trained={"input", "t-de"}, heldout=frozenset({"sw"}))
    assert langs["de"] == {"heldout": 0, "pre": 0.0, "post": 0.0, "seen_pre": 0.0, "seen_post": 1.0,
                           "para_pre": 0.0, "para_post": 0.0}
    assert langs["sw"] == {"heldout": 1, "pre": 0.0, "post": 1.0, "seen_pre": None, "seen_post": None,
                           "para_pre": None, "para_post": None}
    rates = edit_rates(langs)
    assert rates["mg_pre"] == 0.5 and rates["mg"] == 1.0
    assert rates["clg"] == 0.5 and rates["clg_pre"] == 0.0  # de's unseen rephrase, sw's translation
    assert rates["clg_heldout"] == 1.0 and rates["clg_seen"] == 1.0
    # like for like: de's rephrase alone, whichever method trained on de's translation
    assert rates["clg_paraphrase"] == 0.0
    assert edit_rates(language_rows(texts, pre, post, trained={"input"}, heldout=frozenset({"sw"})))[
        "clg_paraphrase"] == 0.0


def test_rotation_holds_out_a_seeded_share_of_each_edits_languages():
    langs = ["de", "es", "fr", "ja", "ru", "sw"]
    rotation = HeldOut(frozenset({"sw"}), 0.5, seed=0)
    draws = [rotation.draw(f"e{i}", langs) for i in range(40)]
    assert all("sw" in d and len(d) == 1 + 3 for d in draws)  # fixed + half of the other 5, rounded
    assert len(set(draws)) > 5  # it rotates
    assert draws == [HeldOut(frozenset({"sw"}), 0.5, seed=0).draw(f"e{i}", langs) for i in range(40)]
    assert draws != [HeldOut(frozenset({"sw"}), 0.5, seed=1).draw(f"e{i}", langs) for i in range(40)]


@pytest.fixture()
def editor(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = Classifier.from_encoder(encoder, LABELS, seed=3).eval()
    return Editor(model, tokenizer, "mpn", {"max_steps": 200},
                  memory=["a man is playing a guitar", "nobody is playing music"],
                  val_memory=["paris is a city in france"])


def test_streams_edit_mistakes_and_report_every_metric(editor):
    edits = make_edits(editor)
    locality = [{"group": "l1", "lang": "en", "input": "nobody is playing music", "label": "REFUTES"},
                {"group": "l2", "lang": "de", "input": "die währung von japan ist der yen", "label": "SUPPORTS"}]
    logs = SequentialEditing(editor, locality, HeldOut(frozenset({"es"})), eval_every=1).run(edits)
    # streams 0 (2 edits) and 1 (1 edit), each from the base model: the first edit of
    # each is a base-model mistake and always made; a later one may be fixed already
    assert len(logs) == 2 and 1 <= len(logs[0].edits) <= 2 and len(logs[1].edits) == 1
    assert all(row["patches"] == row["step"] for lg in logs for row in lg.edits)
    metrics = summarize(logs, n_bootstrap=100, seed=0)
    for key in ("es", "mg", "mg_pre", "clg", "clg_pre", "clg_heldout", "clg_heldout_pre", "locality", "er"):
        assert metrics[key] is None or 0 <= metrics[key]["low"] <= metrics[key]["mean"] <= metrics[key]["high"] <= 1.5
    for key in ("mg", "clg", "clg_heldout"):
        lift = metrics[f"{key}_lift"]
        assert lift["mean"] == pytest.approx(metrics[key]["mean"] - metrics[f"{key}_pre"]["mean"], abs=2e-4)
    assert metrics["es"]["mean"] == 1.0
    assert set(metrics["clg_by_lang"]) == {"de", "es"} and set(metrics["clg_by_lang_pre"]) == {"de", "es"}
    assert metrics["clg_heldout_by_lang"]["de"] is None and metrics["clg_heldout_by_lang"]["es"] is not None
    # MPN trained on every de translation: de has no unseen text here, only a seen rate
    assert metrics["clg_by_lang"]["de"] is None and metrics["clg_seen"] is not None
    rows = [row for lg in logs for row in lg.edits]
    assert all(row["trained_languages"] == ["de"] and row["heldout_languages"] == ["es"] for row in rows)
    assert set(metrics["locality_by_lang"]) == {"en", "de"}
    assert metrics["n_edits"] == metrics["patches"] == sum(len(lg.edits) for lg in logs)


def test_an_edit_the_current_model_already_gets_right_is_skipped(editor):
    edits = make_edits(editor)
    edits = [dict(edits[0], stream=0), dict(edits[0], stream=0, edit_id="dup")]  # same fact twice
    logs = SequentialEditing(editor, [], eval_every=5).run(edits)
    assert len(logs[0].edits) == 1


def test_max_per_stream_ends_each_stream_after_that_many_edits_made(editor):
    edits = make_edits(editor)
    logs = SequentialEditing(editor, [], eval_every=5).run(edits, max_per_stream=1)
    assert [len(lg.edits) for lg in logs] == [1, 1]
    assert [lg.curve[-1]["n_edits"] for lg in logs] == [1, 1]


def test_memory_is_english_for_patcher_and_adds_mpn_pool_languages():
    rows = [{"lang": lang, "input": f"{lang} {i}"} for lang in ("en", "de", "es", "ja") for i in range(3)]
    assert memory_inputs(rows, make_hparams("patcher")) == {"en": ["en 0", "en 1", "en 2"]}
    mpn = make_hparams("mpn", {"memory_per_language": 2})
    assert memory_inputs(rows, mpn, frozenset({"ja"})) == {"en": ["en 0", "en 1", "en 2"], "de": ["de 0", "de 1"], "es": ["es 0", "es 1"]}
    pooled = make_hparams("mpn", {"pool_languages": ["es"], "memory_per_language": 5})
    assert memory_inputs(rows, pooled) == {"en": ["en 0", "en 1", "en 2"], "es": ["es 0", "es 1", "es 2"]}
    # the control: Transformer-Patcher with MPN's multilingual memory, MPN with English only
    assert memory_inputs(rows, make_hparams("patcher", {"memory_per_language": 1})) == {
        "en": ["en 0", "en 1", "en 2"], "de": ["de 0"], "es": ["es 0"], "ja": ["ja 0"]}
    assert memory_inputs(rows, make_hparams("mpn", {"memory_per_language": 0})) == {"en": ["en 0", "en 1", "en 2"]}


def test_mpn_never_trains_on_a_rotated_out_language(editor):
    """Language rotation: per edit, the drawn languages are held out of MPN's batch."""
    edits = [dict(e, translations={"de": "die währung von japan ist der euro", "fr": "la monnaie du japon est l'euro",
                                   "it": "la valuta del giappone è l'euro", "es": "la moneda de japan es el euro"})
             for e in make_edits(editor)]
    runner = SequentialEditing(editor, [], HeldOut(frozenset({"es"}), 0.5, seed=0), eval_every=5)
    rows = [row for lg in runner.run(edits) for row in lg.edits]
    for row in rows:
        assert "es" in row["heldout_languages"] and len(row["heldout_languages"]) == 1 + 2
        assert row["trained_languages"] and not set(row["trained_languages"]) & set(row["heldout_languages"])
        assert sorted(row["trained_languages"] + row["heldout_languages"]) == ["de", "es", "fr", "it"]


def test_checkpoints_load_saved_streams_and_drop_them_when_anything_changes(tmp_path):
    log = StreamLog(seed=1, edits=[{"stream": 0, "es": 1, "seconds": 0.5, "by_lang": {"de": {"pre": 0.0}}}],
                    locality_after=[1, 0], retained=[1])
    Checkpoints(tmp_path, "v1").save(1, 0, log)
    again = Checkpoints(tmp_path, "v1")
    assert again.saved() == 1 and again.load(1, 1) is None
    loaded = again.load(1, 0)
    assert loaded.edits == [{"stream": 0, "es": 1, "by_lang": {"de": {"pre": 0.0}}}]  # no timing saved
    assert (loaded.seed, loaded.locality_after, loaded.retained) == (1, [1, 0], [1])
    changed = Checkpoints(tmp_path, "v2")  # params, model, edits or code changed
    assert changed.saved() == 0 and changed.load(1, 0) is None


def test_each_task_can_hold_out_its_own_languages():
    """edit.heldout.by_task: a task listed there uses its own fixed held-out languages;
    the others keep edit.heldout.languages (two tasks in one run need not share them)."""
    settings = section({"edit": {"heldout": {"languages": ["sw"], "by_task": {"xnli": ["ur"]}, "fraction": 0.0}}},
                       EditSettings).heldout
    assert HeldOut.from_settings(settings, "xnli").draw("e1", ["sw", "ur", "my"]) == {"ur"}
    assert HeldOut.from_settings(settings, "xfacts").draw("e1", ["sw", "de"]) == {"sw"}
    assert HeldOut.from_settings(settings).fixed == {"sw"}


def test_near_locality_is_measured_for_each_made_edit_at_the_end_of_its_stream(editor):
    """A near item that is the edit's own input must change (the edit fixed it); rows
    exist only for edits made, one per near item, against the base model's prediction."""
    edits = make_edits(editor)
    near = {e["group"]: [{"input": e["input"], "lang": "en", "kind": "twin", "group": "n" + e["group"]},
                         {"input": "paris is a city in france", "lang": "en", "kind": "relation", "group": "nx"}]
            for e in edits}
    logs = SequentialEditing(editor, [], eval_every=5, near=near).run(edits, progress=False)
    for lg in logs:
        made = {row["group"] for row in lg.edits}
        assert {r["group"] for r in lg.near} == made and len(lg.near) == 2 * len(made)
        own = [r for r in lg.near if r["kind"] == "twin"]
        # the edit's own input, if its edit still holds at the end, differs from the base model
        retained = dict(zip([row["group"] for row in lg.edits], lg.retained))
        assert all(r["agreement"] == 1 - retained[r["group"]] for r in own)
    assert SequentialEditing(editor, [], eval_every=5).run(edits, progress=False)[0].near == []


def test_near_facts_share_the_edits_subject_or_relation_and_are_never_edited():
    assert xfacts_key("xfacts-city-America.Port-au-Prince-HT") == ("city", "America.Port-au-Prince", "HT")
    assert xfacts_key("xnli-123") is None
    groups = ["xfacts-currency-OM-XAF", "xfacts-currency-OM-OMR", "xfacts-language-OM-ar",
              "xfacts-continent-OM-142", "xfacts-currency-JM-JMD", "xfacts-currency-AM-TND",
              "xfacts-currency-JM-XAF"]
    edited = ["xfacts-currency-OM-XAF", "xfacts-currency-JM-JMD"]
    near = near_groups(edited, groups, per_kind=5, seed=0)
    assert sorted(near["xfacts-currency-OM-XAF"]) == [
        ("entity", "xfacts-continent-OM-142"), ("entity", "xfacts-language-OM-ar"),
        ("relation", "xfacts-currency-AM-TND"), ("relation", "xfacts-currency-JM-XAF"),
        ("twin", "xfacts-currency-OM-OMR")]
    assert sorted(near["xfacts-currency-JM-JMD"]) == [
        ("relation", "xfacts-currency-AM-TND"), ("relation", "xfacts-currency-OM-OMR"),
        ("twin", "xfacts-currency-JM-XAF")]
    assert near_groups(edited, groups, per_kind=1, seed=0)["xfacts-currency-OM-XAF"][0] == \
        ("twin", "xfacts-currency-OM-OMR")


def test_near_siblings_share_the_edits_premise_in_every_language_and_are_never_edited():
    rows = [{"group": f"dev-p{p}~{pair}", "lang": lang, "variant": "original", "label": "neutral",
             "premise": f"{lang} premise {p}", "hypothesis": f"{lang} hypothesis {pair}"}
            for p, pairs in ((0, (1, 2, 3)), (1, (4, 5, 6))) for pair in pairs for lang in ("en", "sw")]
    near = near_rows(["dev-p0~1", "dev-p0~2", "dev-p1~4"], rows, per_kind=2)
    assert {(r["kind"], r["group"], r["lang"]) for r in near["dev-p0~1"]} == {
        ("sibling", "dev-p0~3", "en"), ("sibling", "dev-p0~3", "sw")}   # pair 2 is edited
    assert sorted({r["group"] for r in near["dev-p1~4"]}) == ["dev-p1~5", "dev-p1~6"]
    assert near["dev-p1~4"][0]["input"] in {("en premise 1", "en hypothesis 5"), ("en premise 1", "en hypothesis 6")}
    assert near_groups(["xfacts-currency-OM-XAF"], ["xfacts-currency-OM-XAF"], 2, 0) == {"xfacts-currency-OM-XAF": []}
