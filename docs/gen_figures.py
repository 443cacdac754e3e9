"""Run every experiment at a small size and copy its figures into ``docs/figures/``.

    python docs/gen_figures.py [--out DIR] [--only NAME ...] [--format png|pdf|svg]

The sizes (the ``--set`` overrides in ``SMALL``) keep the whole run to a few minutes on two CPU
cores; each experiment's page shows the command with these overrides, and the full-size command
is the same without them. ``make docs`` runs this script before ``mkdocs build``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rmtjax.cli import main as rmtjax_main

ROOT = Path(__file__).resolve().parent.parent

SMALL: dict[str, list[str]] = {
    "eigvec_overlap": ["n=120", "index=30", "window=10", "trials=60", "chunk_size=30"],
    "dbm_profile": ["n=200", "trials=8", "chunk_size=4", "bins=40"],
    "grampa_recovery": [
        "n=60",
        "trials=4",
        "chunk_size=4",
        "timing_pairs=1",
        "qp_tol=0.01",
    ],
    "ck_ntk_spectra": ["n=300", "d0=200", "widths=[400,400,400]", "grid=256"],
    "real_data_spectra": ["n=300", "widths=[400,400,400]", "grid=256"],
    "spiked_propagation": ["n=300", "d0=200", "widths=[400,400,400]", "support=8", "grid=256"],
    "training_evolution": [
        "n=150",
        "n_test=100",
        "d0=100",
        "width=150",
        "steps=40",
        "track_every=10",
        "snapshots=5",
        "learning_rate=1",
    ],
}
"""Per experiment: the ``--set`` overrides of the small run shown in the docs."""


def command(name: str) -> list[str]:
    """The ``rmtjax run`` arguments of the small run of ``name``."""
    args = ["run", f"configs/{name}.yaml", "--quiet"]
    for override in SMALL[name]:
        args += ["--set", override]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "docs")
    parser.add_argument("--only", nargs="*", default=list(SMALL), choices=list(SMALL))
    parser.add_argument("--format", default="png")
    args = parser.parse_args(argv)
    figures = ROOT / "docs" / "figures"
    figures.mkdir(exist_ok=True)
    for name in args.only:
        out = args.out / name
        shutil.rmtree(out, ignore_errors=True)
        status = rmtjax_main([*command(name), "--out", str(out), "--format", args.format])
        if status:
            return status
        for path in sorted(out.glob(f"*.{args.format}")):
            target = path.name if path.stem == name else f"{name}.{path.name}"
            shutil.copyfile(path, figures / target)
            print(f"docs/figures/{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
