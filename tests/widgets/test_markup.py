"""The escaping helper every widget uses for user text."""

from widgets.markup import error_html, escape, tag

HOSTILE = "<script>alert('x')</script> & \"q\""


def test_escape_leaves_no_markup_and_takes_any_value():
    assert escape(HOSTILE) == ("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; "
                               "&quot;q&quot;")
    assert escape(42) == "42"


def test_tag_escapes_text_and_attributes():
    html = tag("span", HOSTILE, cls="hub-x", title="a'b", style=None)
    assert html.startswith("<span class='hub-x' title='a&#x27;b'>")
    assert "<script>" not in html and html.endswith("</span>")


def test_error_html_is_the_error_span_the_widgets_always_wrote():
    assert error_html(ValueError("bad <b>")) == "<span class='hub-error'>bad &lt;b&gt;</span>"
    assert error_html("m", name="p", style="color:#b5485d") == (
        "<p class='hub-error' style='color:#b5485d'>m</p>")
