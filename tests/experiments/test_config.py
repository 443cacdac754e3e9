"""Tests of rmtjax/experiments/config.py: validation, one-line errors, YAML, fingerprints."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from rmtjax.experiments.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    describe_config,
    fingerprint,
    load_config,
    param,
    read_yaml,
    to_dict,
)


@dataclasses.dataclass(frozen=True)
class SweepConfig(ExperimentConfig):
    n: int = param(500, low=2, doc="matrix size")
    eta: float = param(0.2, low=0.0, closed=(False, True), doc="regularization")
    deltas: tuple[float, ...] = param((0.0, 0.01), low=0.0, high=1.0, doc="noise levels")
    method: str = param("grampa", choices=("grampa", "umeyama"), doc="similarity")
    plot: bool = param(True, doc="draw the figure")
    window: tuple[int, int] = param((80, 120), low=0, doc="index range")
    labels: list[str] = param(["a"], doc="panel labels")
    cap: float | None = param(None, low=0.0, doc="optional cap")
    trials: int = param(1000, low=1, in_fingerprint=False, doc="Monte Carlo trials")


def test_defaults_and_coercion():
    """Missing keys take defaults; ints become floats, integral floats ints, lists tuples."""
    config = load_config(SweepConfig, {"n": 1e3, "eta": 1, "deltas": [0, 0.5], "window": [1, 2]})
    assert config == SweepConfig(n=1000, eta=1.0, deltas=(0.0, 0.5), window=(1, 2))
    assert type(config.n) is int and type(config.eta) is float
    assert config.deltas == (0.0, 0.5) and isinstance(config.deltas, tuple)
    assert (config.seed, config.chunk_size, config.labels, config.cap) == (0, 64, ["a"], None)
    assert SweepConfig().labels is not SweepConfig().labels  # list default copied


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"trails": 5}, "unknown config key 'trails' for SweepConfig; did you mean 'trials'?"),
        ({"zzz": 5}, "unknown config key 'zzz' for SweepConfig (valid keys: seed, chunk_size, n,"),
        ({"n": "abc"}, "n must be an integer; got 'abc' (str)"),
        ({"n": 2.5}, "n must be an integer; got 2.5 (float)"),
        ({"n": True}, "n must be an integer; got True (bool)"),
        ({"plot": 1}, "plot must be true or false; got 1 (int)"),
        ({"method": 3}, "method must be a string; got 3 (int)"),
        ({"deltas": 0.1}, "deltas must be a list of numbers; got 0.1 (float)"),
        ({"deltas": [0.1, "x"]}, "deltas must be a number; got 'x' (str)"),
        ({"window": [1, 2, 3]}, "window must be a list of 2 values (an integer, an integer)"),
        ({"cap": "x"}, "cap must be a number or null; got 'x' (str)"),
        ({"n": 1}, "n must lie in [2, inf]; got 1"),
        ({"eta": 0}, "eta must lie in (0.0, inf]; got 0.0"),
        ({"deltas": [0.1, 2]}, "deltas must lie in [0.0, 1.0]; got 2.0"),
        ({"cap": -1}, "cap must lie in [0.0, inf]; got -1.0"),
        ({"method": "qp"}, "unknown method 'qp'; expected one of ['grampa', 'umeyama']"),
        ({"chunk_size": 0}, "chunk_size must lie in [1, inf]; got 0"),
        ({"seed": -1}, "seed must lie in [0, 4294967295]; got -1"),
    ],
)
def test_bad_values_get_one_line_errors_naming_the_key(mapping, message):
    with pytest.raises(ConfigError) as info:
        load_config(SweepConfig, mapping)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match=r"n must lie in \[2, inf\]"):
        SweepConfig(n=1)
    assert isinstance(ConfigError("x"), ValueError)


def test_cross_field_check_in_post_init_becomes_config_error():
    @dataclasses.dataclass(frozen=True)
    class Window(ExperimentConfig):
        lo: int = param(0)
        hi: int = param(10)

        def __post_init__(self):
            super().__post_init__()
            if self.lo >= self.hi:
                raise ValueError(f"lo must be < hi; got lo={self.lo}, hi={self.hi}")

    with pytest.raises(ConfigError, match="lo must be < hi; got lo=5, hi=3"):
        load_config(Window, {"lo": 5, "hi": 3})


def test_missing_required_key():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Required(ExperimentConfig):
        path: str = param(doc="no default")

    with pytest.raises(ConfigError, match="missing config key 'path'"):
        load_config(Required, {})
    assert load_config(Required, {"path": "x"}).path == "x"


def test_overrides_are_parsed_as_yaml_scalars():
    out = apply_overrides(
        {"n": 5, "keep": 1},
        ["n=1e3", "eta=.5", "deltas=[0, 1e-3]", "plot=false", "method=umeyama", "cap=null"],
    )
    assert out == {
        "n": 1000.0,
        "keep": 1,
        "eta": 0.5,
        "deltas": [0, 0.001],
        "plot": False,
        "method": "umeyama",
        "cap": None,
    }
    assert load_config(SweepConfig, {k: v for k, v in out.items() if k != "keep"}).n == 1000


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("n", "--set expects key=value; got 'n'"),
        ("=3", "--set expects key=value"),
        ("d=[1,", "--set d: cannot parse '[1,' as a YAML value"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        apply_overrides({}, [override])


def test_read_yaml_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.yaml"):
        read_yaml(tmp_path / "nope.yaml")
    (tmp_path / "broken.yaml").write_text("n: [1, 2\nm: 3\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(tmp_path / "broken.yaml")
    assert "broken.yaml: invalid YAML:" in str(info.value) and "line" in str(info.value)
    assert "\n" not in str(info.value)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_yaml(tmp_path / "list.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") == {}


def test_to_dict_round_trips_through_yaml(tmp_path):
    config = SweepConfig(n=7, deltas=(0.5,), cap=2.0, labels=["x", "y"])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    assert load_config(SweepConfig, read_yaml(tmp_path / "c.yaml")) == config
    assert list(to_dict(config))[:3] == ["seed", "chunk_size", "n"]
    assert to_dict(config)["deltas"] == [0.5]


def test_fingerprint_covers_result_defining_fields_only():
    base = fingerprint(SweepConfig())
    assert base == fingerprint(SweepConfig()) and len(base) == 64
    assert base == fingerprint(SweepConfig(trials=5, chunk_size=3))  # in_fingerprint=False
    assert base != fingerprint(SweepConfig(seed=1))
    assert base != fingerprint(SweepConfig(deltas=(0.0, 0.02)))
    # Golden value: the hash must not change between processes or releases (no id(), no hash
    # randomization), or stored runs would stop resuming.
    assert base == "f43076d5f0bf2956d80cadf881ddacdfad0e2941dddaa660e56b0a283aead895"


def test_describe_config_lists_every_field():
    rows = {row["key"]: row for row in describe_config(SweepConfig)}
    assert list(rows)[:2] == ["seed", "chunk_size"] and len(rows) == 11
    assert rows["eta"] == {
        "key": "eta",
        "type": "a number",
        "default": 0.2,
        "allowed": "(0.0, inf]",
        "doc": "regularization",
    }
    assert rows["method"]["allowed"] == "one of grampa, umeyama"
    assert rows["deltas"]["type"] == "a list of numbers"
