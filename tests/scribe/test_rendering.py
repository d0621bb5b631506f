"""The document's Markdown subset renders safely (scribe.rendering)."""
from __future__ import annotations

from scribe.rendering import render_markdown


def test_it_escapes_html_from_any_author():
    html = render_markdown('# Title <script>alert(1)</script>\n\n<img src=x onerror="alert(1)"> and **bold <b>x</b>**')
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<strong>bold &lt;b&gt;x&lt;/b&gt;</strong>" in html


def test_it_renders_headings_paragraphs_and_emphasis():
    html = render_markdown("# The night\n\nThey *laughed* and __cheered__.\nStill the same paragraph.\n\n## Later\n\n_quiet_ `code *x*`")
    assert "<h1>The night</h1>" in html
    assert "<p>They <em>laughed</em> and <strong>cheered</strong>. Still the same paragraph.</p>" in html
    assert "<h2>Later</h2>" in html
    assert "<em>quiet</em> <code>code *x*</code>" in html


def test_it_renders_lists_quotes_and_rules():
    html = render_markdown("- one\n- two\n\n1. first\n2. second\n\n> said\n\n---")
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert "<ol><li>first</li><li>second</li></ol>" in html
    assert "<blockquote><p>said</p></blockquote>" in html
    assert "<hr>" in html


def test_it_makes_no_links_or_attributes():
    html = render_markdown("[click](javascript:alert(1)) <a href='javascript:alert(1)'>x</a>")
    assert "<a" not in html and "href" not in html.replace("&#x27;", "'").replace("&lt;a href", "")
