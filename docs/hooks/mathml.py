"""MkDocs hook: TeX math rendered to MathML at build time, so the site needs no network.

``pymdownx.arithmatex`` (``generic: true``) wraps inline math as
``<span class="arithmatex">\\(...\\)</span>`` and display math as
``<div class="arithmatex">\\[...\\]</div>``; this hook replaces each with the MathML of
``latex2mathml`` (MathML Core renders natively in current Chromium, Firefox and Safari). A
formula that does not convert is a build error, so a page never ships raw TeX.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*\\(?P<open>[(\[])(?P<tex>.*?)\\[)\]]\s*</(?P=tag)>',
    re.DOTALL,
)


def _to_mathml(match: re.Match) -> str:
    tex = html.unescape(match["tex"]).strip()
    display = "block" if match["open"] == "[" else "inline"
    try:
        return convert(tex, display=display)
    except Exception as error:  # latex2mathml raises several exception types
        raise ValueError(f"cannot render TeX {tex!r} as MathML: {error}") from error


def on_page_content(html_content: str, **kwargs) -> str:
    """Every arithmatex span and div of a page as MathML."""
    return _MATH.sub(_to_mathml, html_content)
