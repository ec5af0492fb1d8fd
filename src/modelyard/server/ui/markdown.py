"""A small, safe Markdown subset for run descriptions: every character of the input is HTML-escaped
first, then a few constructs become tags.

Supported: ``#`` to ``######`` headings, paragraphs, ``-``/``*`` and ``1.`` lists, fenced code blocks
(```` ``` ````), ``inline code``, ``**bold**``, ``*italic*``, ``> quotes`` and ``[text](url)`` links
whose URL is ``http(s)://``, ``mailto:`` or relative (anything else stays text). Raw HTML is shown as
text, never interpreted.
"""

from __future__ import annotations

import re
from html import escape

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _inline(text: str) -> str:
    """Escape ``text`` and apply the inline constructs (code spans are left alone inside)."""
    parts = _CODE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{escape(part)}</code>")
            continue
        html = escape(part)
        html = _LINK.sub(_link, html)
        html = _BOLD.sub(r"<strong>\1</strong>", html)
        html = _ITALIC.sub(r"<em>\1</em>", html)
        out.append(html)
    return "".join(out)


def _link(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)
    # ``url`` is already escaped; only web, mail and relative links (no javascript:, data:, ...).
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    if ":" in head and not url.lower().startswith(("http://", "https://", "mailto:")):
        return match.group(0)
    return f'<a href="{url}" rel="noopener noreferrer nofollow">{label}</a>'


def render_markdown(source: str) -> str:
    """The HTML for ``source`` (a string safe to insert into a page)."""
    lines = source.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    paragraph: list[str] = []
    list_tag: str | None = None
    in_code = False
    code: list[str] = []

    def flush_paragraph() -> None:
        if paragraph:
            out.append("<p>" + "<br>".join(_inline(p) for p in paragraph) + "</p>")
            paragraph.clear()

    def close_list() -> None:
        nonlocal list_tag
        if list_tag:
            out.append(f"</{list_tag}>")
            list_tag = None

    for line in lines:
        if in_code:
            if line.strip().startswith("```"):
                out.append("<pre><code>" + escape("\n".join(code)) + "</code></pre>")
                code.clear()
                in_code = False
            else:
                code.append(line)
            continue
        if line.strip().startswith("```"):
            flush_paragraph()
            close_list()
            in_code = True
            continue
        if not line.strip():
            flush_paragraph()
            close_list()
            continue
        heading = _HEADING.match(line)
        if heading:
            flush_paragraph()
            close_list()
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            continue
        item = _BULLET.match(line)
        numbered = None if item else _NUMBERED.match(line)
        if item or numbered:
            flush_paragraph()
            tag = "ul" if item else "ol"
            if list_tag != tag:
                close_list()
                out.append(f"<{tag}>")
                list_tag = tag
            out.append(f"<li>{_inline((item or numbered).group(1))}</li>")  # type: ignore[union-attr]
            continue
        if line.startswith(">"):
            flush_paragraph()
            close_list()
            out.append(f"<blockquote>{_inline(line[1:].strip())}</blockquote>")
            continue
        close_list()
        paragraph.append(line)
    if in_code:
        out.append("<pre><code>" + escape("\n".join(code)) + "</code></pre>")
    flush_paragraph()
    close_list()
    return "\n".join(out)
