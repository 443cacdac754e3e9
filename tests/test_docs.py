"""The documentation site: ``mkdocs build --strict`` succeeds and its pages render in a browser.

The build goes to ``build/docs-test/site`` (warnings, e.g. a broken cross-reference, fail it);
headless Chromium then renders the API page of ``rmtjax.graphs`` and the ``eigvec_overlap``
experiment page, and the screenshots are kept in ``build/docs-test/``. Without a Chromium
binary (``make test`` installs Debian's ``chromium`` when run as root) the browser test skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "docs-test"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


@pytest.fixture(scope="module")
def site() -> Path:
    """Build the site once with warnings as errors and return its folder."""
    site = OUT / "site"
    shutil.rmtree(site, ignore_errors=True)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return site


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser ({', '.join(BROWSERS)}); `make test` installs chromium")


def _render(page: Path, shot: Path) -> str:
    """Render ``page`` headless: save a screenshot to ``shot`` and return the DOM."""
    common = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    common += ["--allow-file-access-from-files", "--virtual-time-budget=3000"]
    url = page.as_uri()
    kw = dict(capture_output=True, text=True, timeout=90)
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,1600", url], **kw)
    dom = subprocess.run([*common, "--dump-dom", url], **kw)
    assert shot.is_file(), f"no screenshot of {page}"
    return dom.stdout


def test_site_has_every_page(site: Path) -> None:
    for page in ("api/graphs", "api/spectra", "api/nets", "api/activations", "api/experiments"):
        assert (site / page / "index.html").is_file()
    graphs = (site / "api/graphs/index.html").read_text()
    for name in ("rmtjax.graphs.grampa", "rmtjax.graphs.match", "rmtjax.graphs.GraphPair"):
        assert f'id="{name}"' in graphs, name
    math = (site / "math/index.html").read_text()
    assert math.count("<math ") >= 50 and 'class="arithmatex"' not in math  # no raw TeX
    assert "cdn." not in math  # the site renders offline
    assert (site / "benchmarks/index.html").read_text().count("grampa_vs_floor") >= 1


def test_pages_render_in_a_browser(site: Path) -> None:
    api_shot, exp_shot = OUT / "api_graphs.png", OUT / "eigvec_overlap.png"
    dom = _render(site / "api/graphs/index.html", api_shot)
    assert "rmtjax.graphs.grampa" in dom and "Returns" in dom
    dom = _render(site / "experiments/eigvec_overlap/index.html", exp_shot)
    assert 'src="../../figures/eigvec_overlap.png"' in dom
    assert (site / "figures/eigvec_overlap.png").is_file()
    # The figure's bars are the style's blue (#0072B2): many such pixels means the image drew.
    pixels = np.asarray(Image.open(exp_shot).convert("RGB"), dtype=int)
    blue = np.all(np.abs(pixels - [0, 114, 178]) <= 12, axis=-1).sum()
    assert blue > 500, f"the figure did not render in {exp_shot} ({blue} blue pixels)"
    page = np.asarray(Image.open(api_shot).convert("L"), dtype=float)
    assert page.std() > 5, f"the API page looks blank in {api_shot}"
