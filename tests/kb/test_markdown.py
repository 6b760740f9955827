"""Article bodies rendered from Markdown (kefu.kb.markdown)."""

from __future__ import annotations

from kefu.kb import markdown


def test_markdown_is_sanitised():
    html = markdown.render_markdown("**粗体** <script>alert(1)</script> [链接](javascript:alert(1))")
    assert "<strong>粗体</strong>" in html
    assert "<script>" not in html
    assert 'href="javascript' not in html
