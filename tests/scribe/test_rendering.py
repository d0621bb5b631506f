"""The document's Markdown subset renders safely (scribe.rendering)."""
from __future__ import annotations

from scribe.rendering import RenderCache, render_markdown


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


def test_it_bounds_the_rendered_versions_it_keeps_by_characters() -> None:
    # A pool child renders every new version once (the live page's frame): 256 versions of a long
    # document held ≈30 MB per process; the cache now holds at most its budget of text and HTML.
    cache = RenderCache(max_chars=100_000)
    versions = [f"# Version {n}\n\n" + "a line of the document, long enough\n" * 400 for n in range(40)]
    for text in versions:
        cache.html(text)
    assert cache.chars <= 100_000 and 0 < len(cache) < 40
    hits = cache.hits
    assert cache.html(versions[-1]).startswith("<h1>Version 39</h1>")
    assert cache.hits == hits + 1  # the latest versions stay


def test_it_renders_a_version_larger_than_the_whole_cache_without_keeping_it() -> None:
    cache = RenderCache(max_chars=1_000)
    assert cache.html("# Big\n\n" + "x" * 2_000).startswith("<h1>Big</h1>")
    assert len(cache) == 0 and cache.chars == 0
