"""The download stage: FEVER and XNLI parsers, mirror and hub sources, splits, errors.

Fixtures are small files in the real upstream formats, made in tmp_path."""
from __future__ import annotations

import functools
import http.server
import json
import logging
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from mpn.data import load_meta, load_rows
from mpn.data.build import download_tasks
from mpn.data.splits import assign_units, parse_parts, split_sizes
from mpn.core.errors import UserError
from mpn.core.schema import SPLITS, fact_of

ROOT = Path(__file__).resolve().parents[1]
FEVER_LABELS = ["SUPPORTS", "REFUTES", "NOT ENOUGH INFO"]
XNLI_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence1", "sentence2",
               "promptID", "pairID", "genre"]
XNLI_LABELS = ["entailment", "neutral", "contradiction"]


# --- fixtures in the upstream formats -------------------------------------------------

def fever_line(i: int, label: str, claim: str | None = None) -> str:
    evidence = [[[i, None, None, None]]] if label == FEVER_LABELS[2] else [[[i, i, f"Page{i // 4}", 0]]]
    return json.dumps({"id": i, "verifiable": "NOT VERIFIABLE" if label == FEVER_LABELS[2]
                       else "VERIFIABLE", "label": label,
                       "claim": claim or f"Claim number {i} is about something.",
                       "evidence": evidence})


def write_fever(folder: Path, name: str, ids: range, extra: list[str] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [fever_line(i, FEVER_LABELS[i % 3]) for i in ids] + list(extra)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / name


def xnli_tsv(n_pairs: int, langs: list[str], skip: tuple[str, int] | None = None) -> str:
    lines = ["\t".join(XNLI_HEADER)]
    for lang in langs:
        for pair in range(n_pairs):
            if (lang, pair) == skip:
                continue
            # Quotes are data in XNLI: the reader must not treat them as csv quoting.
            s1 = f'{lang} premise "{pair // 3}'   # three hypotheses per premise, as in XNLI
            lines.append("\t".join([lang, XNLI_LABELS[pair % 3], "( x )", s1,
                                    f"{lang} hypothesis {pair}", str(1000 + pair), str(pair),
                                    "fiction"]))
    return "\n".join(lines) + "\n"


def write_xnli(folder: Path, langs=("en", "sw", "ur"), skip=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "xnli.dev.tsv").write_text(xnli_tsv(24, list(langs), skip), encoding="utf-8")
    (folder / "xnli.test.tsv").write_text(xnli_tsv(5, list(langs)), encoding="utf-8")


@pytest.fixture
def mirror(tmp_path) -> Path:
    root = tmp_path / "mirror"
    write_fever(root / "fever", "paper_dev.jsonl", range(0, 30))
    write_fever(root / "fever", "paper_test.jsonl", range(100, 112))
    write_xnli(root / "xnli", skip=("sw", 3))
    return root


def data_params(mirror: Path, tmp_path: Path, **sections) -> dict:
    return {"seed": 0, "mirror_dir": str(mirror), "download_dir": str(tmp_path / "dl"),
            **sections}


def read(task_dir: Path) -> list[dict]:
    return [json.loads(line) for split in SPLITS
            for line in (task_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


# --- splits ---------------------------------------------------------------------------

def test_split_sizes_sum_to_n_and_follow_ratios():
    assert split_sizes(10, [0.6, 0.1, 0.15]) == [7, 1, 2]
    assert split_sizes(0, [1.0, 1.0]) == [0, 0]
    assert all(sum(split_sizes(n, [0.6, 0.1, 0.15, 0.15])) == n for n in range(50))


def test_assignment_ignores_unit_order_and_depends_on_seed():
    units = [f"g{i}" for i in range(200)]
    a = assign_units(units, SPLITS, dict.fromkeys(SPLITS, 1.0), "0:t:p")
    b = assign_units(list(reversed(units)) * 2, SPLITS, dict.fromkeys(SPLITS, 1.0), "0:t:p")
    c = assign_units(units, SPLITS, dict.fromkeys(SPLITS, 1.0), "1:t:p")
    assert a == b and a != c
    assert sorted(a) == sorted(units)


@pytest.mark.parametrize("parts, message", [
    ({"dev": ["train", "val"], "test": ["test"]}, "exactly one part"),
    ({"dev": ["train", "val", "edit"], "test": ["test", "val"]}, "exactly one part"),
    ({"dev": ["train", "val", "edit", "dev"]}, "unknown split 'dev'"),
    ({"train": ["train", "val", "edit", "test"]}, "unknown part 'train'; allowed: dev, test"),
])
def test_bad_parts_mapping(parts, message):
    with pytest.raises(UserError, match=message):
        parse_parts(parts, ("dev", "test"), "data.xnli.parts")


# --- FEVER ----------------------------------------------------------------------------

def test_fever_mirror_without_train_uses_the_documented_fallback(mirror, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    download_tasks(["fever"], data_params(mirror, tmp_path), tmp_path / "raw")
    rows = read(tmp_path / "raw" / "fever")
    assert "mirror lacks train.jsonl; using data.fever.parts_without_train" in caplog.text
    # binary: NOT ENOUGH INFO (every third id) is dropped
    assert {r["label"] for r in rows} == {"SUPPORTS", "REFUTES"}
    assert len(rows) == 20 + 8
    test_ids = {int(r["id"]) for r in rows if r["split"] == "test"}
    assert test_ids == {i for i in range(100, 112) if i % 3 != 2}
    dev = [r for r in rows if r["split"] != "test"]
    assert {r["split"] for r in dev} == {"train", "val", "edit"}
    assert all(r["lang"] == "en" and r["variant"] == "original" for r in rows)
    # a claim's fact is its evidence page: claims about one page never in two splits
    assert all(r["group"] == f"Page{int(r['id']) // 4}~{r['id']}" for r in rows)
    splits_of = {}
    for r in rows:
        splits_of.setdefault(fact_of(r["group"]), set()).add(r["split"])
    assert len(splits_of) < len(rows) and all(len(s) == 1 for s in splits_of.values())
    assert load_meta("fever", tmp_path)["labels"] == ["SUPPORTS", "REFUTES"]


def test_fever_three_way_and_train_file_when_present(mirror, tmp_path):
    write_fever(mirror / "fever", "train.jsonl", range(200, 230))
    params = data_params(mirror, tmp_path, fever={"label_scheme": "three_way"})
    download_tasks(["fever"], params, tmp_path / "raw")
    rows = read(tmp_path / "raw" / "fever")
    assert {r["label"] for r in rows} == set(FEVER_LABELS)
    assert all((r["group"] == r["id"]) == (r["label"] == FEVER_LABELS[2]) for r in rows)   # NEI: no page
    by_split = {s: {int(r["id"]) for r in rows if r["split"] == s} for s in SPLITS}
    assert by_split["train"] == set(range(200, 230))
    assert by_split["val"] | by_split["edit"] == set(range(0, 30))


def test_fever_duplicate_claims_are_merged_and_conflicts_dropped(mirror, tmp_path):
    extra = [fever_line(50, "SUPPORTS", "Same claim."), fever_line(51, "SUPPORTS", "Same claim."),
             fever_line(52, "SUPPORTS", "Torn claim."), fever_line(53, "REFUTES", "Torn claim.")]
    write_fever(mirror / "fever", "paper_dev.jsonl", range(0, 30), extra)
    download_tasks(["fever"], data_params(mirror, tmp_path), tmp_path / "raw")
    claims = [r["claim"] for r in read(tmp_path / "raw" / "fever")]
    assert claims.count("Same claim.") == 1 and "Torn claim." not in claims


def test_fever_missing_mirror_file_names_the_path(mirror, tmp_path):
    (mirror / "fever" / "paper_test.jsonl").unlink()
    with pytest.raises(UserError, match=r"missing mirror file .*fever/paper_test\.jsonl"):
        download_tasks(["fever"], data_params(mirror, tmp_path), tmp_path / "raw")
    params = data_params(mirror, tmp_path, fever={"parts_without_train": None})
    with pytest.raises(UserError, match=r"missing mirror file .*fever/train\.jsonl"):
        download_tasks(["fever"], params, tmp_path / "raw")


@pytest.mark.parametrize("bad_line, message", [
    ("{not json", r"paper_dev\.jsonl:31: malformed jsonl row"),
    ('{"id": 9, "label": "MAYBE", "claim": "x"}', r"paper_dev\.jsonl:31: unknown label 'MAYBE'"),
    ('{"id": 9, "label": "SUPPORTS"}', r"paper_dev\.jsonl:31: missing field 'claim'"),
])
def test_fever_bad_row_names_file_and_line(mirror, tmp_path, bad_line, message):
    write_fever(mirror / "fever", "paper_dev.jsonl", range(0, 30), [bad_line])
    with pytest.raises(UserError, match=message):
        download_tasks(["fever"], data_params(mirror, tmp_path), tmp_path / "raw")


def test_invalid_utf8_names_file_line_and_byte(mirror, tmp_path):
    path = mirror / "fever" / "paper_dev.jsonl"
    write_fever(mirror / "fever", "paper_dev.jsonl", range(0, 30), [])
    path.write_bytes(path.read_bytes() + b'{"id": 99, "label": "SUPPORTS", "claim": "caf\xe9"}\n')
    with pytest.raises(UserError, match=r"paper_dev\.jsonl:31: invalid UTF-8 \(byte 0xe9 at column 46\)"):
        download_tasks(["fever"], data_params(mirror, tmp_path), tmp_path / "raw")
    xnli = mirror / "xnli" / "xnli.dev.tsv"
    xnli.write_bytes(xnli.read_bytes() + b"en\tneutral\t\xff\ta\tb\t1\t0\tg\n")
    with pytest.raises(UserError, match=r"xnli\.dev\.tsv:\d+: invalid UTF-8 \(byte 0xff"):
        download_tasks(["xnli"], data_params(mirror, tmp_path), tmp_path / "raw")


# --- XNLI -----------------------------------------------------------------------------

def test_xnli_rows_align_by_pair_id(mirror, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    download_tasks(["xnli"], data_params(mirror, tmp_path), tmp_path / "raw")
    rows = read(tmp_path / "raw" / "xnli")
    groups, facts = {}, {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
        facts.setdefault(fact_of(r["group"]), set()).add(r["split"])
    assert not any(g.endswith("~3") and g.startswith("dev") for g in groups)   # sw lacks pair 3 of dev
    assert len(groups) == 23 + 5
    assert all(sorted(r["lang"] for r in m) == ["en", "sw", "ur"] for m in groups.values())
    # A premise's hypotheses are one fact: never in two splits.
    assert sorted(facts) == [f"dev-p{i}" for i in range(8)] + ["test-p0", "test-p1"]
    assert all(len(splits) == 1 for splits in facts.values())
    assert {g for g, m in groups.items() if m[0]["split"] == "test"} == {f"test-p{i // 3}~{i}" for i in range(5)}
    row = next(r for r in rows if r["id"] == "dev-p1~4/sw")
    assert row == {"id": "dev-p1~4/sw", "group": "dev-p1~4", "lang": "sw", "variant": "original",
                   "split": row["split"], "label": "neutral", "premise": 'sw premise "1',
                   "hypothesis": "sw hypothesis 4"}
    assert load_meta("xnli", tmp_path)["text_fields"] == ["premise", "hypothesis"]


def test_xnli_unknown_language_names_what_the_file_has(mirror, tmp_path):
    params = data_params(mirror, tmp_path, xnli={"languages": ["en", "de"]})
    with pytest.raises(UserError, match=r"language 'de' not in .*xnli\.dev\.tsv \(has: en, sw, ur\)"):
        download_tasks(["xnli"], params, tmp_path / "raw")
    params = data_params(mirror, tmp_path, xnli={"languages": ["en", "xx"], "source": "hub"})
    with pytest.raises(UserError, match="unknown language 'xx'; allowed: ar, bg"):
        download_tasks(["xnli"], params, tmp_path / "raw")


@pytest.mark.parametrize("content, message", [
    ("language\tgold_label\tsentence1\tsentence2\n", r"xnli\.dev\.tsv:1: header lacks column 'pairID'"),
    ("\t".join(XNLI_HEADER) + "\nen\tneutral\tonly three\n", r"xnli\.dev\.tsv:2: malformed tsv row"),
    ("\t".join(XNLI_HEADER) + "\nen\tmaybe\tp\ta\tb\t1\t0\tg\n", r"xnli\.dev\.tsv:2: unknown gold_label"),
])
def test_xnli_bad_file_names_file_and_line(mirror, tmp_path, content, message):
    (mirror / "xnli" / "xnli.dev.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        download_tasks(["xnli"], data_params(mirror, tmp_path), tmp_path / "raw")


# --- hub: a local HTTP server stands in for the upstream hosts ------------------------

@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    requests_seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests_seen.append(self.path)

    handler = functools.partial(Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requests_seen
    httpd.shutdown()
    httpd.server_close()


def test_fever_and_xnli_from_hub_are_downloaded_once(server, tmp_path):
    root, url, seen = server
    for name, ids in [("train.jsonl", range(200, 230)), ("paper_dev.jsonl", range(0, 30)),
                      ("paper_test.jsonl", range(100, 112))]:
        write_fever(root / "fever", name, ids)
    write_xnli(tmp_path / "xnli_src")
    with zipfile.ZipFile(root / "XNLI-1.0.zip", "w") as zf:
        for name in ("xnli.dev.tsv", "xnli.test.tsv"):
            zf.write(tmp_path / "xnli_src" / name, f"XNLI-1.0/{name}")
    params = data_params(tmp_path / "no_mirror", tmp_path,
                         fever={"source": "hub", "base_url": f"{url}/fever"},
                         xnli={"source": "hub", "url": f"{url}/XNLI-1.0.zip"})
    download_tasks(["fever", "xnli"], params, tmp_path / "raw")
    assert len(seen) == 4
    fever = read(tmp_path / "raw" / "fever")
    assert {int(r["id"]) for r in fever if r["split"] == "train"} == {
        i for i in range(200, 230) if i % 3 != 2}
    assert len({r["group"] for r in read(tmp_path / "raw" / "xnli")}) == 24 + 5
    download_tasks(["fever", "xnli"], params, tmp_path / "raw2")
    assert len(seen) == 4                              # second run: cached downloads
    assert read(tmp_path / "raw2" / "fever") == fever


def test_hub_http_error_is_one_line(server, tmp_path):
    _, url, _ = server
    params = data_params(tmp_path, tmp_path, fever={"source": "hub", "base_url": f"{url}/nope"})
    with pytest.raises(UserError, match=r"cannot download .*/nope/train\.jsonl: 404") as err:
        download_tasks(["fever"], params, tmp_path / "raw")
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "dl").rglob("*.jsonl"))   # no half-downloaded file


# --- all or nothing, load_rows ----------------------------------------------------------

def test_a_failing_task_leaves_previous_outputs_untouched(mirror, tmp_path):
    out = tmp_path / "raw"
    download_tasks(["fever"], data_params(mirror, tmp_path), out)
    before = (out / "fever" / "train.jsonl").read_bytes()
    (mirror / "xnli" / "xnli.test.tsv").write_text("\t".join(XNLI_HEADER) + "\nen\tx\n")
    params = data_params(mirror, tmp_path, seed=1)
    with pytest.raises(UserError, match="malformed tsv row"):
        download_tasks(["fever", "xnli"], params, out)
    assert (out / "fever" / "train.jsonl").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["fever"]   # no temp dirs left


def test_empty_results_are_errors(mirror, tmp_path):
    only_nei = [fever_line(i, "NOT ENOUGH INFO") for i in range(3)]
    (mirror / "fever" / "paper_dev.jsonl").write_text("\n".join(only_nei) + "\n")
    (mirror / "fever" / "paper_test.jsonl").write_text("\n".join(only_nei) + "\n")
    with pytest.raises(UserError, match="fever: no rows left to write"):
        download_tasks(["fever"], data_params(mirror, tmp_path), tmp_path / "raw")
    write_fever(mirror / "fever", "paper_dev.jsonl", range(0, 3))
    write_fever(mirror / "fever", "paper_test.jsonl", range(3, 6))
    with pytest.raises(UserError, match="fever: split '(val|edit)' is empty"):
        download_tasks(["fever"], data_params(mirror, tmp_path), tmp_path / "raw")


def test_load_rows_prefers_raw_rows_over_translated_ones(mirror, tmp_path):
    download_tasks(["xnli"], data_params(mirror, tmp_path), tmp_path / "raw")
    raw = load_rows("xnli", tmp_path)
    clash = {**next(r for r in raw if r["lang"] == "sw"), "premise": "machine translated"}
    fresh = {**next(r for r in raw if r["lang"] == "en"), "lang": "de", "premise": "auf Deutsch"}
    fresh["id"] += "/de"
    translated = tmp_path / "translated" / "xnli"
    translated.mkdir(parents=True)
    (translated / "x.jsonl").write_text(json.dumps(clash) + "\n" + json.dumps(fresh) + "\n")
    merged = load_rows("xnli", tmp_path)
    assert len(merged) == len(raw) + 1
    assert "machine translated" not in {r["premise"] for r in merged}
    assert fresh in merged


# --- the stage script ---------------------------------------------------------------------

def run_stage(tmp_path: Path, params: dict) -> subprocess.CompletedProcess:
    (tmp_path / "params.yaml").write_text(json.dumps(params))
    return subprocess.run([sys.executable, str(ROOT / "stages" / "download.py"), "--params",
                           str(tmp_path / "params.yaml"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_stage_writes_tasks(mirror, tmp_path):
    done = run_stage(tmp_path, {"tasks": ["fever", "xnli"], "data": data_params(mirror, tmp_path)})
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fever", "xnli"]
    assert sorted(p.name for p in (tmp_path / "out" / "xnli").iterdir()) == [
        "edit.jsonl", "meta.json", "test.jsonl", "train.jsonl", "val.jsonl"]


@pytest.mark.parametrize("tasks, sections, message", [
    (["fever", "squad"], {}, "error: unknown task 'squad' in tasks; allowed: fever, xfacts, xfacts-lm, xnli"),
    (["xnli"], {"xnli": {"source": "ftp"}},
     "error: data.xnli.source: unknown value 'ftp'; allowed: mirror, hub, hub_dataset"),
])
def test_stage_bad_input_exits_2_with_one_line(mirror, tmp_path, tasks, sections, message):
    done = run_stage(tmp_path, {"tasks": tasks, "data": data_params(mirror, tmp_path, **sections)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == message   # log lines may precede it
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
