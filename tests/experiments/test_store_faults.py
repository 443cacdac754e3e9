"""Fault injection into results directories: kills, corrupt files, foreign directories.

Every case checks the three promises of rmtjax/experiments/store.py: a refused run leaves the
directory byte-identical (SHA-256 of every file before and after), a damaged or interrupted
directory says what is wrong or missing (``check_results``, ``rmtjax check``), and the rerun
recomputes only what is missing, reproducing an uninterrupted run bitwise.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from rmtjax.cli import main
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.eigvec_overlap import EigvecOverlapConfig
from rmtjax.experiments.store import ChunkStore, HistoryStore, StoreError, check_results
from tests.experiments import _toy
from tests.experiments._results import snapshot, toy_yaml, worker

CONFIG = _toy.ToyConfig(trials=12)  # chunks 0..5, 5..10, 10..12 per scale


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted toy run (never modified: tests copy it)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    run_experiment(CONFIG, out, progress=False)
    return out


@pytest.fixture
def finished(tmp_path, reference) -> Path:
    """A private copy of the reference run."""
    return Path(shutil.copytree(reference, tmp_path / "out"))


@pytest.fixture
def written(monkeypatch) -> list[tuple[str, int, int]]:
    """Records every chunk written from now on as ``(store name, start, stop)``."""
    log, write = [], ChunkStore.write_chunk

    def recording(self, start, stop, leaves):
        log.append((self.dir.name, start, stop))
        write(self, start, stop, leaves)

    monkeypatch.setattr(ChunkStore, "write_chunk", recording)
    return log


def _assert_same_results(out: Path, reference: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads((reference / "summary.json").read_text())
    assert summary["complete"] is True
    with np.load(out / "data.npz") as a, np.load(reference / "data.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
    assert check_results(out).ok
    assert not [p for p in out.rglob("*.tmp")]


def _check_cli(out: Path, capsys) -> tuple[int, str, str]:
    rc = main(["check", str(out)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_kill_during_a_chunk_write_resumes_only_the_missing_chunks(
    tmp_path, reference, written, capsys
):
    """SIGKILL with half of the 5th chunk (scale=2.0, trials 5..9) in its temporary file."""
    out = tmp_path / "out"
    config = toy_yaml(tmp_path, trials=12)
    proc = worker("kill", r"^chunk_", "mid", "5", "run", str(config), "--out", str(out), "--quiet")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (tmp,) = out.rglob("*.tmp")
    assert tmp.parent.name == "scale=2.0"
    assert re.fullmatch(r"\.chunk_0000000005_0000000010\.npz\.\d+\.tmp", tmp.name)
    report = check_results(out)
    assert not report.ok and not report.problems
    assert any("summary.json is not written" in line for line in report.missing)
    assert "chunks/scale=2.0: trials 5..11 of 12 are not stored (a rerun runs them)" in (
        report.missing
    )
    assert any("stale temporary" in note for note in report.notes)
    rc, stdout, err = _check_cli(out, capsys)
    assert rc == 1 and "chunks/scale=1.0: 12 of 12 trials in 3 chunks, intact" in stdout
    assert "incomplete: chunks/scale=2.0: trials 5..11 of 12" in err

    run_experiment(CONFIG, out, progress=False)
    assert written == [("scale=2.0", 5, 10), ("scale=2.0", 10, 12)]
    _assert_same_results(out, reference)


@pytest.mark.parametrize("when", ["mid", "renamed"])
def test_kill_during_the_final_write_leaves_the_run_incomplete(
    tmp_path, reference, written, when, capsys
):
    """SIGKILL while writing summary.json (before its rename, or before the manifest has it)."""
    out = tmp_path / "out"
    config = toy_yaml(tmp_path, trials=12)
    proc = worker(
        "kill", r"^summary\.json$", when, "1", "run", str(config), "--out", str(out), "--quiet"
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (out / "summary.json").exists() == (when == "renamed")
    report = check_results(out)
    assert [line for line in report.missing if "summary.json is not written" in line]
    assert not report.problems
    rc, _, err = _check_cli(out, capsys)
    assert rc == 1 and err.startswith("incomplete: ") and "summary.json" in err

    run_experiment(CONFIG, out, progress=False)
    assert written == []  # every chunk was stored: nothing recomputed
    _assert_same_results(out, reference)


def test_corrupt_chunk_is_named_and_only_it_is_recomputed(finished, reference, written, capsys):
    chunk = finished / "chunks" / "scale=1.0" / "chunk_0000000005_0000000010.npz"
    chunk.write_bytes(chunk.read_bytes()[:100])  # truncated
    before = snapshot(finished)
    message = f"{chunk} is corrupt (checksum mismatch); delete it and rerun to recompute only"
    with pytest.raises(StoreError, match=re.escape(message)):
        run_experiment(CONFIG, finished, progress=False)
    assert snapshot(finished) == before
    rc, _, err = _check_cli(finished, capsys)
    assert rc == 1 and err == f"error: {message} {chunk.name}\n"

    chunk.unlink()  # the fix the message gives
    run_experiment(CONFIG, finished, progress=False)
    assert written == [("scale=1.0", 5, 10)]
    _assert_same_results(finished, reference)


@pytest.mark.parametrize("manifest", ["manifest.json", "chunks/scale=1.0/manifest.json"])
def test_corrupt_manifest_is_named_with_its_fix(finished, reference, written, manifest, capsys):
    path = finished / manifest
    path.write_text('{"format": 2, "kind": ')
    before = snapshot(finished)
    message = f"{path} is corrupt (JSONDecodeError); delete {path.parent} and rerun"
    with pytest.raises(StoreError, match=re.escape(message)):
        run_experiment(CONFIG, finished, progress=False)
    assert snapshot(finished) == before
    rc, _, err = _check_cli(finished, capsys)
    assert rc == 1 and err.startswith(f"error: {message}") and err.count("\n") == 1

    if manifest != "manifest.json":  # the chunk store's fix: only its trials are recomputed
        shutil.rmtree(path.parent)
        run_experiment(CONFIG, finished, progress=False)
        assert written == [("scale=1.0", 0, 5), ("scale=1.0", 5, 10), ("scale=1.0", 10, 12)]
        _assert_same_results(finished, reference)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            EigvecOverlapConfig(n=8, index=3, window=1, deltas=(0.0,), trials=2),
            "{out} holds results of experiment 'toy', not 'eigvec_overlap'; use another --out",
        ),
        (
            _toy.ToyConfig(n=5, scales=(1.0, 3.0), trials=12),
            "{out} belongs to another run of toy (n is 4 there, 5 here; scales is [1.0, 2.0] "
            "there, [1.0, 3.0] here); use another --out directory or delete it",
        ),
    ],
)
def test_directory_of_another_run_is_refused_byte_identical(finished, config, message):
    before = snapshot(finished)
    with pytest.raises(StoreError, match=re.escape(message.format(out=finished))):
        run_experiment(config, finished, progress=False)
    assert snapshot(finished) == before


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"notes.txt": b"mine"}, "holds files (notes.txt) but no manifest.json; not an rmtjax"),
        ({"config.yaml": b"experiment: toy\n", "chunks/x/a": b""}, "holds files (chunks,"),
    ],
)
def test_directory_that_is_not_an_rmtjax_store_is_refused(tmp_path, files, message):
    out = tmp_path / "out"
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    before = snapshot(out)
    with pytest.raises(StoreError, match=re.escape(message)):
        run_experiment(CONFIG, out, progress=False)
    assert snapshot(out) == before


def test_interrupted_run_after_raising_trials_says_it_is_incomplete(
    finished, reference, monkeypatch, capsys
):
    """trials 12 -> 20, stopped after one new chunk: summary gone, missing trials named."""
    write, calls = ChunkStore.write_chunk, []

    def stop_at_second(self, start, stop, leaves):
        calls.append((start, stop))
        if len(calls) == 2:
            raise KeyboardInterrupt
        write(self, start, stop, leaves)

    monkeypatch.setattr(ChunkStore, "write_chunk", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(_toy.ToyConfig(trials=20), finished, progress=False)
    monkeypatch.undo()
    assert "trials: 20" in (finished / "config.yaml").read_text()
    assert not (finished / "summary.json").exists()
    report = check_results(finished)
    assert "chunks/scale=1.0: trials 17..19 of 20 are not stored (a rerun runs them)" in (
        report.missing
    )
    assert "chunks/scale=2.0: not reached by the interrupted run (trials may be missing)" in (
        report.missing
    )
    rc, _, err = _check_cli(finished, capsys)
    assert rc == 1 and err.count("incomplete: ") == 3

    summary = run_experiment(_toy.ToyConfig(trials=20), finished)
    assert "resuming " in capsys.readouterr().err
    assert summary["trials"] == 20 and check_results(finished).ok
    again = run_experiment(CONFIG, finished, progress=False)  # back to 12: all stored
    assert again == json.loads((reference / "summary.json").read_text())


def test_history_store_faults(tmp_path):
    """Tracking points and checkpoint: identity, corruption, an unrecorded write, cleanup."""
    store = HistoryStore(tmp_path / "h", "fp")
    store.save_record(0, {"loss": np.float32(2.0), "eig": np.arange(3.0)})
    store.save_record(10, {"loss": np.float32(1.0), "eig": np.arange(3.0) + 1})
    store.save_checkpoint(b"state at 10")
    (tmp_path / "h" / "step_00000020.npz").write_bytes(b"written, never recorded")
    (tmp_path / "h" / ".step_00000030.npz.99.tmp").write_bytes(b"partial")

    reopened = HistoryStore(tmp_path / "h", "fp")  # removes the unrecorded and stale files
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == [
        "checkpoint.msgpack",
        "manifest.json",
        "step_00000000.npz",
        "step_00000010.npz",
    ]
    records = reopened.records()
    assert [float(r["loss"]) for r in records] == [2.0, 1.0]
    np.testing.assert_array_equal(records[1]["eig"], [1.0, 2.0, 3.0])
    assert reopened.load_checkpoint() == b"state at 10"

    before = snapshot(tmp_path / "h")
    with pytest.raises(StoreError, match=r"history store .* belongs to another run \(fingerprint"):
        HistoryStore(tmp_path / "h", "other")
    assert snapshot(tmp_path / "h") == before

    (tmp_path / "h" / "checkpoint.msgpack").write_bytes(b"state at 1O")
    with pytest.raises(StoreError, match=r"checkpoint\.msgpack is corrupt \(checksum mismatch\)"):
        reopened.load_checkpoint()
    step = tmp_path / "h" / "step_00000010.npz"
    step.write_bytes(step.read_bytes()[:-3])
    with pytest.raises(StoreError, match=r"step_00000010\.npz is corrupt"):
        HistoryStore(tmp_path / "h", "fp").records()
