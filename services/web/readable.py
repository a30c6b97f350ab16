"""A page's readable text: readability-lxml finds the article (no menus, footers, scripts), and the
article's blocks become lines. CPU work: callers run it in a thread."""

from __future__ import annotations

import re

import lxml.html
from lxml.etree import ParserError
from readability import Document
from readability.readability import Unparseable

BLOCKS = {"p", "div", "br", "li", "tr", "pre", "blockquote", "section", "article", "header", "footer", "table",
          "ul", "ol", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "figcaption"}
_BLANKS = re.compile(r"\n{3,}")


def readable_text(body: bytes, content_type: str, charset: str | None, url: str) -> tuple[str, str]:
    """(title, text); plain text passes through as it is."""
    if content_type in ("text/plain", "text/markdown"):
        return "", body.decode(charset or "utf-8", "replace")
    html: str | bytes = body.decode(charset, "replace") if charset else body  # bytes: readability sniffs <meta>
    try:
        document = Document(html, url=url)
        title = document.short_title() or ""
        article = document.summary(html_partial=True)
    except (Unparseable, ParserError, ValueError):
        return "", ""
    return " ".join(title.split()), html_to_text(article)


def html_to_text(html: str) -> str:
    """Block elements become lines, runs of spaces one space, at most one blank line in a row."""
    try:
        root = lxml.html.fromstring(html)
    except (ParserError, ValueError):
        return ""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in BLOCKS:
            element.tail = "\n" + (element.tail or "")
            if element.tag.lower() in ("h1", "h2", "h3", "li"):
                element.text = ("• " if element.tag.lower() == "li" else "") + (element.text or "")
    lines = (" ".join(line.split()) for line in root.text_content().splitlines())
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()
