"""Tests of rmtjax/cli.py: list, run, bench, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from rmtjax.cli import main
from tests.experiments import _toy  # noqa: F401  (registers the test-only experiment "toy")


@pytest.fixture
def toy_yaml(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("experiment: toy\nscales: [1.0]\n")
    return path


def test_list(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["toy", "test-only", "GOE", "spectra"] for line in lines)
    assert main(["list", "toy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("toy: test-only GOE spectra\n")
    assert "  n = 4  (an integer [2, 64])  matrix size" in out
    assert "  chunk_size = 5  (an integer [1, inf])  trials per chunk" in out


def test_run_writes_results_with_overrides(tmp_path, toy_yaml, capsys):
    out = tmp_path / "out"
    assert main(["run", str(toy_yaml), "--set", "trials=7", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == f"wrote {out}/summary.json\n"
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["experiment"] == "toy" and resolved["trials"] == 7
    assert resolved["scales"] == [1.0]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"] == 7 and list(summary["m2"]) == ["1.0"]


def test_run_default_out_dir_and_progress(tmp_path, toy_yaml, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(toy_yaml)]) == 0
    assert (tmp_path / "results" / "toy" / "summary.json").is_file()
    assert "trial/s" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("yaml_text", "extra", "message"),
    [
        ("experiment: toy\ntrails: 3\n", [], "unknown config key 'trails' for ToyConfig; did you"),
        ("experiment: toy\n", ["--set", "n=abc"], "n must be an integer; got 'abc' (str)"),
        ("experiment: toy\n", ["--set", "n=100"], "n must lie in [2, 64]; got 100"),
        ("experiment: toy\nscales: [1.0,\n", [], "invalid YAML:"),
        ("experiment: tyo\n", [], "unknown experiment 'tyo'; did you mean 'toy'?"),
        ("n: 4\n", [], "missing 'experiment: NAME'"),
        ("experiment: toy\n", ["--set", "n"], "--set expects key=value; got 'n'"),
        ("experiment: toy\n", ["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_error_exit_2(tmp_path, capsys, yaml_text, extra, message):
    (tmp_path / "c.yaml").write_text(yaml_text)
    assert main(["run", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


# Fails jax.distributed.initialize's own checks whatever cluster the tests run on.
_BAD_PROCESS_ID = ["--coordinator=127.0.0.1:1", "--num-processes=2", "--process-id=5"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "error: the following arguments are required"),
        (["run", "missing.yaml"], "error: config file not found: missing.yaml"),
        (["list", "nope"], "error: unknown experiment 'nope'"),
        (["frobnicate"], "error: argument {list,run,check,bench}: invalid choice: 'frobnicate'"),
        (
            ["run", "c.yaml", "--distributed", *_BAD_PROCESS_ID],
            "error: --distributed: ",  # JAX's reason: bad process_id, or backend already running
        ),
    ],
)
def test_bad_commands(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("experiment: toy\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_results_dir_of_another_run_is_an_error(tmp_path, toy_yaml, capsys):
    out = str(tmp_path / "out")
    assert main(["run", str(toy_yaml), "--out", out, "--quiet"]) == 0
    assert main(["run", str(toy_yaml), "--out", out, "--quiet", "--set", "seed=3"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {out} belongs to another run of toy (seed is 0 there, 3 here); "
        "use another --out directory or delete it\n"
    )


def test_bench_runs_the_benchmarks_module_from_the_current_directory(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--quick"]) == 2
    assert capfd.readouterr().err.startswith("error: no benchmarks package in ")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__init__.py").write_text("")
    (tmp_path / "benchmarks" / "run.py").write_text(
        "import sys\nprint('ARGS', sys.argv[1:])\nsys.exit(3)\n"
    )
    assert main(["bench", "--quick", "-k", "x"]) == 3
    assert "ARGS ['--quick', '-k', 'x']" in capfd.readouterr().out


def test_module_entry_point(tmp_path):
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "rmtjax.cli", "run", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == f"error: config file not found: {tmp_path / 'none.yaml'}\n"


def test_check_reports_a_complete_directory(tmp_path, toy_yaml, capsys):
    out = tmp_path / "out"
    assert main(["run", str(toy_yaml), "--out", str(out), "--quiet", "--set", "trials=7"]) == 0
    capsys.readouterr()
    assert main(["check", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"{out}: experiment toy, fingerprint ")
    assert lines[0].endswith("4 files intact")  # config.yaml, data.npz, eigenvalues.png, summary
    assert "chunks/scale=1.0: 7 of 7 trials in 2 chunks, intact" in lines
    assert lines[-1] == f"ok: {out} is complete and intact"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["experiment"] == "toy"
