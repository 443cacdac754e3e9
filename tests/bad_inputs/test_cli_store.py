"""Bad inputs of the CLI and the results stores: one table of cases, one clear error each.

CLI cases are ``(setup, exit status, phrase)``: ``setup(tmp_path, finished)`` writes what the
case needs (``finished`` is a completed toy results directory) and returns the argv and the
directory it must leave alone. Every case prints exactly one ``error:`` line for a refused
``run`` (status 2) or ``error:``/``incomplete:`` lines for a failed ``check`` (status 1), never
a traceback, and leaves every file byte-identical. API cases are ``(call, exception type, phrase)``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from rmtjax.cli import main
from rmtjax.experiments.config import ConfigError, apply_overrides, load_config, read_yaml
from rmtjax.experiments.context import run_experiment
from rmtjax.experiments.eigvec_overlap import EigvecOverlapConfig
from rmtjax.experiments.engine import run_trials
from rmtjax.experiments.store import (
    ChunkStore,
    HistoryStore,
    ResultsStore,
    Store,
    StoreError,
    atomic_write,
)
from tests.experiments import _toy
from tests.experiments._results import snapshot

TINY_TRAINING = (
    "experiment: training_evolution\nn: 8\nn_test: 4\nd0: 4\nwidth: 8\ndepth: 1\n"
    "steps: 2\ntrack_every: 1\nedge: initial\nlearning_rate: 0.01\n"
)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("template") / "toy"
    run_experiment(_toy.ToyConfig(trials=6), out, progress=False)
    return out


@pytest.fixture
def finished(tmp_path, template) -> Path:
    return Path(shutil.copytree(template, tmp_path / "toy"))


def _config(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def _run(tmp_path, text, out, *extra):
    return ["run", _config(tmp_path, text), "--out", str(out), "--quiet", *extra], out


def _non_utf8(tmp, fin):
    return _run(tmp, b"experiment: toy\nn: 4 # \xe9t\xe9\n", tmp / "o")


def _out_is_a_file(tmp, fin):
    (tmp / "taken").write_text("a file")
    return _run(tmp, "experiment: toy\n", tmp / "taken")


def _empty_deltas(tmp, fin):
    return _run(tmp, "experiment: eigvec_overlap\ndeltas: []\n", tmp / "o")


def _key_twice(tmp, fin):
    return _run(tmp, "experiment: toy\nn: 4\ntrials: 3\nn: 5\n", tmp / "o")


def _other_experiment(tmp, fin):
    return _run(tmp, "experiment: eigvec_overlap\nn: 8\nindex: 3\nwindow: 1\n", fin)


def _other_parameter(tmp, fin):
    return _run(tmp, "experiment: toy\ntrials: 6\n", fin, "--set", "scales=[1.0, 0.5]")


def _foreign_files(tmp, fin):
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("not results")
    return _run(tmp, "experiment: toy\n", tmp / "mine")


def _corrupt_chunk(tmp, fin):
    chunk = fin / "chunks" / "scale=2.0" / "chunk_0000000000_0000000005.npz"
    chunk.write_bytes(chunk.read_bytes()[:-1])
    return _run(tmp, "experiment: toy\ntrials: 6\n", fin)


def _corrupt_manifest(tmp, fin):
    (fin / "chunks" / "scale=1.0" / "manifest.json").write_text("[1, 2")
    return _run(tmp, "experiment: toy\ntrials: 6\n", fin)


def _training_learning_rate(tmp, fin):
    out = tmp / "train"
    argv, _ = _run(tmp, TINY_TRAINING, out)
    assert main(argv) == 0
    return [*argv, "--set", "learning_rate=0.02"], out


def _check_not_results(tmp, fin):
    (tmp / "plain").mkdir()
    return ["check", str(tmp / "plain")], tmp / "plain"


def _check_corrupt_summary(tmp, fin):
    (fin / "summary.json").write_text("{}")
    return ["check", str(fin)], fin


def _check_missing_chunk(tmp, fin):
    (fin / "chunks" / "scale=1.0" / "chunk_0000000005_0000000006.npz").unlink()
    return ["check", str(fin)], fin


CLI_CASES = [
    (_non_utf8, 2, "c.yaml: not UTF-8 text (byte 0xe9 at offset 23); save the config as UTF-8"),
    (_out_is_a_file, 2, "taken is a file, not a results directory; choose another path"),
    (_empty_deltas, 2, "deltas must hold at least one value; got []"),
    (_key_twice, 2, "invalid YAML: key 'n' is given twice at line 4, column 1"),
    (_other_experiment, 2, "holds results of experiment 'toy', not 'eigvec_overlap'"),
    (_other_parameter, 2, "belongs to another run of toy (scales is [1.0, 2.0] there, [1.0, 0.5]"),
    (_foreign_files, 2, "mine holds files (notes.txt) but no manifest.json; not an rmtjax store"),
    (_corrupt_chunk, 2, "chunk_0000000000_0000000005.npz is corrupt (checksum mismatch); delete"),
    (_corrupt_manifest, 2, "scale=1.0/manifest.json is corrupt (JSONDecodeError); delete"),
    (_training_learning_rate, 2, "(learning_rate is 0.01 there, 0.02 here)"),
    (_check_not_results, 1, "plain has no manifest.json: not an rmtjax results directory"),
    (_check_corrupt_summary, 1, "summary.json is corrupt (checksum mismatch)"),
    (_check_missing_chunk, 1, "chunk_0000000005_0000000006.npz is missing (recorded in"),
]


@pytest.mark.parametrize(
    ("setup", "status", "phrase"), CLI_CASES, ids=[c[0].__name__.strip("_") for c in CLI_CASES]
)
def test_cli_bad_input(tmp_path, finished, capsys, setup, status, phrase):
    argv, guarded = setup(tmp_path, finished)
    before = snapshot(guarded) if guarded.is_dir() else guarded.exists()
    capsys.readouterr()
    assert main(argv) == status
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith(("error: ", "incomplete: "))]
    assert errors and phrase in errors[0], err
    assert "Traceback" not in err
    if status == 2:
        assert err == errors[0] + "\n"
    assert (snapshot(guarded) if guarded.is_dir() else guarded.exists()) == before


def _store_on_a_file(tmp):
    (tmp / "f").write_text("x")
    Store(tmp / "f", "chunks", {"a": 1})


def _history_of_another_run(tmp):
    HistoryStore(tmp / "h", "first")
    HistoryStore(tmp / "h", "second")


def _chunks_in_a_history_store(tmp):
    HistoryStore(tmp / "h", "first")
    ChunkStore(tmp / "h", {"fingerprint": "first"})


def _old_format(tmp):
    (tmp / "c").mkdir()
    manifest = {"format": 1, "kind": "chunks", "identity": {}, "files": {}, "info": {}}
    (tmp / "c" / "manifest.json").write_text(json.dumps(manifest))
    ChunkStore(tmp / "c", {})


def _not_a_manifest(tmp):
    (tmp / "c").mkdir()
    (tmp / "c" / "manifest.json").write_text('{"format": 2}')
    ChunkStore(tmp / "c", {})


def _unrecorded_file(tmp):
    store = Store(tmp / "s", "chunks", {})
    store.create()
    (tmp / "s" / "x.bin").write_bytes(b"?")
    store.read_bytes("x.bin")


def _stray_chunks(tmp):
    (tmp / "c").mkdir()
    (tmp / "c" / "chunk_0000000000_0000000002.npz").write_bytes(b"x")
    run_trials(
        _toy.goe_trial(2),
        params=np.float32(1),
        seed=0,
        n_trials=2,
        chunk_size=2,
        store=tmp / "c",
        progress=False,
    )


def _write_under_a_file(tmp):
    (tmp / "f").write_text("x")
    atomic_write(tmp / "f" / "g.json", lambda f: f.write(b"{}"))


def _incomplete_summary(tmp):
    ResultsStore(tmp / "r", "toy", "fp", {}).finish({"experiment": "toy", "fingerprint": "fp"})


def _unhashable_cache_key(tmp):
    run_trials(
        _toy.goe_trial(2),
        params=np.float32(1),
        seed=0,
        n_trials=2,
        chunk_size=2,
        cache_key=[2],
        progress=False,
    )


API_CASES = [
    (_store_on_a_file, StoreError, "is a file, not a results directory"),
    (_history_of_another_run, StoreError, "belongs to another run (fingerprint is 'first', this"),
    (_chunks_in_a_history_store, StoreError, "is a history store, not a chunks store"),
    (_old_format, StoreError, "has store format 1, this rmtjax writes 2; delete"),
    (_not_a_manifest, StoreError, "is not an rmtjax manifest (missing or bad fields)"),
    (_unrecorded_file, StoreError, "x.bin is not recorded in"),
    (_stray_chunks, StoreError, "but no manifest.json; not an rmtjax store"),
    (_write_under_a_file, StoreError, "cannot write"),
    (_incomplete_summary, ValueError, "summary must carry"),
    (_unhashable_cache_key, TypeError, "cache_key must be hashable (e.g. a tuple); got [2]"),
    (lambda tmp: load_config(EigvecOverlapConfig, {"deltas": []}), ConfigError, "deltas must"),
    (lambda tmp: apply_overrides({}, ["m={a: 1, a: 2}"]), ConfigError, "key 'a' is given twice"),
    (
        lambda tmp: read_yaml(_config(tmp, "a: 1\nb:\n  c: 1\n  c: 2\n")),
        ConfigError,
        "key 'c' is given twice at line 4",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    API_CASES,
    ids=[getattr(c[0], "__name__", "lambda").strip("_") + f"-{i}" for i, c in enumerate(API_CASES)],
)
def test_store_api_bad_input(tmp_path, call, error, phrase):
    with pytest.raises(error, match=re.escape(phrase)) as info:
        call(tmp_path)
    assert "\n" not in str(info.value)
