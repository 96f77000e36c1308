"""`mpn-edit edit --out` and `save_edited` never lose a user's files: an existing
non-empty folder is refused unless `--overwrite` is given and mpn-edit wrote it (its
mpn_edit.json lists every file in it), `--out` is never `--model`'s folder or above it,
and a save killed with SIGKILL leaves the old folder or the new one, never half of one."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from examples import TINY_CORPUS, other_label, write_jsonl
from mpn.cli import main
from mpn.editing.editor import Editor
from mpn.model.portable import load_any, save_edited
from mpn.core.errors import UserError
from mpn.core.owned import MARKER


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its relative path, with its bytes' SHA-256."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def requests(tmp_path, model, tokenizer, i: int = 0, name: str = "requests.jsonl", **extra) -> str:
    text = TINY_CORPUS[i]
    return write_jsonl(tmp_path / name, [{"text": text, "target": other_label(model, tokenizer, text), **extra}])


def edit_args(model_folder, requests_file, out, *extra) -> list[str]:
    return ["edit", "--model", str(model_folder), "--requests", requests_file, "--method", "patcher",
            "--set", "max_steps=50", "--no-check", "--out", str(out), *extra]


def refused(capsys, args) -> str:
    """The one error line of a run that must stop with exit 2."""
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "edit 1/" not in err, err
    return lines[0]


def siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name and p.name.startswith("."))


def test_an_existing_folder_with_a_users_file_is_refused_and_kept(model_dir, tokenizer, tmp_path, capsys):
    folder, model = model_dir
    out = tmp_path / "out_exist"
    out.mkdir()
    (out / "file").write_bytes(b"the user's own bytes\n\x00\x01")
    before = snapshot(out)
    line = refused(capsys, edit_args(folder, requests(tmp_path, model, tokenizer), out))
    assert f"--out {out}: exists and is not empty" in line and "--overwrite" in line, line
    assert snapshot(out) == before and siblings(out) == []
    # --overwrite does not make a folder mpn-edit did not write its own
    line = refused(capsys, edit_args(folder, requests(tmp_path, model, tokenizer), out, "--overwrite"))
    assert f"no readable {MARKER}" in line, line
    assert snapshot(out) == before and siblings(out) == []


def test_overwrite_replaces_a_folder_mpn_edit_wrote_and_nothing_else(model_dir, tokenizer, tmp_path, capsys):
    folder, model = model_dir
    out = tmp_path / "edited"
    main(edit_args(folder, requests(tmp_path, model, tokenizer, 0), out))
    first = snapshot(out)
    marker = json.loads((out / MARKER).read_text())
    assert marker["written_by"] == "mpn-edit" and sorted(marker["files"]) == sorted(set(first) - {MARKER})
    line = refused(capsys, edit_args(folder, requests(tmp_path, model, tokenizer, 1), out))  # no --overwrite
    assert "exists and is not empty" in line and snapshot(out) == first

    main(edit_args(folder, requests(tmp_path, model, tokenizer, 1), out, "--overwrite"))
    second = snapshot(out)
    assert set(second) == set(first) and second["edit_report.json"] != first["edit_report.json"]
    assert TINY_CORPUS[1] in (out / "edit_report.json").read_text(encoding="utf-8")
    assert siblings(out) == []  # the staging folder, holding the old one after the swap, is gone

    (out / "notes.txt").write_text("mine")  # a user's file in mpn-edit's folder: refused even with --overwrite
    kept = snapshot(out)
    line = refused(capsys, edit_args(folder, requests(tmp_path, model, tokenizer, 2), out, "--overwrite"))
    assert "holds 'notes.txt', which mpn-edit did not write" in line, line
    assert snapshot(out) == kept


def test_an_empty_folder_is_written(model_dir, tokenizer, tmp_path):
    folder, model = model_dir
    out = tmp_path / "empty"
    out.mkdir()
    main(edit_args(folder, requests(tmp_path, model, tokenizer), out))
    assert (out / MARKER).exists() and (out / "config.json").exists()


def test_out_is_never_the_model_or_a_folder_above_it(model_dir, tokenizer, tmp_path, capsys):
    folder, model = model_dir
    reqs = requests(tmp_path, model, tokenizer)
    edited = tmp_path / "edited"
    main(edit_args(folder, reqs, edited))  # a folder mpn-edit wrote, as --model and --out at once
    for model_folder, out, message in [(folder, folder, "is the folder of --model"),
                                       (edited, edited, "is the folder of --model"),
                                       (folder, tmp_path, "holds --model")]:
        before = snapshot(model_folder)
        line = refused(capsys, edit_args(model_folder, reqs, out, "--overwrite"))
        assert f"--out {out}: {message}" in line, line
        assert snapshot(model_folder) == before


def test_save_edited_refuses_a_users_folder(model_dir, tokenizer, tmp_path):
    """The library's rule is the command's: a non-empty folder is not replaced without
    overwrite, and with it only if mpn-edit wrote it."""
    folder, _ = model_dir
    model, tok = load_any(str(folder))
    editor = Editor(model, tok, "patcher", {"max_steps": 50})
    editor.edit(TINY_CORPUS[0], other_label(model, tok, TINY_CORPUS[0]))
    users = tmp_path / "users"
    users.mkdir()
    (users / "thesis.tex").write_text("years of work")
    for overwrite in (False, True):
        with pytest.raises(UserError, match=f"folder {users}: "):
            save_edited(editor, tok, users, overwrite=overwrite)
    assert snapshot(users) == {"thesis.tex": hashlib.sha256(b"years of work").hexdigest()}
    with pytest.raises(UserError, match="is the folder of the model"):
        save_edited(editor, tok, folder, overwrite=True)
    ours = save_edited(editor, tok, tmp_path / "ours")
    assert save_edited(editor, tok, ours, overwrite=True) == ours and (ours / MARKER).exists()


def test_a_translation_key_that_is_no_language_names_file_and_line(model_dir, tokenizer, tmp_path, capsys):
    folder, model = model_dir
    text = TINY_CORPUS[0]
    reqs = write_jsonl(tmp_path / "bad.jsonl", [{"text": TINY_CORPUS[1], "target": "SUPPORTS"},
                                               {"text": text, "target": other_label(model, tokenizer, text),
                                                "translations": {"xx-YY": "whatever"}}])
    line = refused(capsys, edit_args(folder, reqs, tmp_path / "out"))
    assert line == (f"error: {reqs}:2: translations key 'xx-YY' is not a language code other than en (CLDR); "
                    "allowed: codes like de, pt-BR, zh-Hant")
    assert not (tmp_path / "out").exists()


def _kill_during_save(model_folder, reqs, out, delay: float) -> bool:
    """Run an --overwrite edit of `out` and SIGKILL it `delay` seconds after its staging
    folder appears beside `out`. True when the kill landed while the staging folder was there."""
    args = [sys.executable, "-m", "mpn.cli", *edit_args(model_folder, reqs, out, "--overwrite")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prefix, deadline = f".{out.name}.{proc.pid}.", time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if any(name.startswith(prefix) for name in os.listdir(out.parent)):
                time.sleep(delay)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return any(name.startswith(prefix) for name in os.listdir(out.parent))
            time.sleep(0.0005)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_save_killed_midway_leaves_the_old_folder_or_the_new_one(model_dir, tokenizer, tmp_path):
    folder, model = model_dir
    out = tmp_path / "edited"
    main(edit_args(folder, requests(tmp_path, model, tokenizer, 0), out))
    old = snapshot(out)
    reqs = requests(tmp_path, model, tokenizer, 1, name="second.jsonl")
    killed = []
    for delay in (0, 0.001, 0.002, 0.003, 0.005, 0.008, 0.012):  # from the first file written to the swap
        killed.append(_kill_during_save(folder, reqs, out, delay))
        now = snapshot(out)
        if now != old:  # the new folder, complete: every file its marker lists, and nothing else
            listed = json.loads((out / MARKER).read_text())["files"]
            assert sorted(now) == sorted([*listed, MARKER])
            assert TINY_CORPUS[1] in (out / "edit_report.json").read_text()
    assert any(killed), "no kill landed during a save"
    # the next save removes what the killed ones left beside it, and writes the folder
    main(edit_args(folder, reqs, out, "--overwrite"))
    assert siblings(out) == [] and TINY_CORPUS[1] in (out / "edit_report.json").read_text()
