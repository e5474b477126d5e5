"""Credentials out of what hub stores and shows: URLs, parameters, papermill's injected cell."""

from __future__ import annotations

import pytest

from hub_kernel.core.redact import redact, redact_code, redact_text, redact_url, secrets_of


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pw@host/x?token=abc", "https://***@host/x?token=***"),
    ("https://TOKEN123@github.example/org/repo.git", "https://***@github.example/org/repo.git"),
    ("postgresql://u:p@db:5432/sales", "postgresql://***@db:5432/sales"),
    ("https://h/a.csv?X-Amz-Credential=c&X-Amz-Signature=s&page=2",
     "https://h/a.csv?X-Amz-Credential=***&X-Amz-Signature=***&page=2"),
    ("https://h/x?api_key=k&sv=2024&sig=s", "https://h/x?api_key=***&sv=2024&sig=***"),
    ("https://h/cb#access_token=t&state=1", "https://h/cb#***"),
    ("https://h/data.csv?sheet=2#top", "https://h/data.csv?sheet=2#top"),
    # a password with an unencoded / ? or # ends urllib's host part early: still masked
    ("redis://:Xy7/ab+c=@h:6379/0/s?group=g", "redis://***@h:6379/0/s?group=g"),
    ("redis://user:a/b@h/s", "redis://***@h/s"),
    ("redis://:ab?cd#ef@h/s", "redis://***@h/s"),
    ("https://host:8080/users/@bob", "https://host:8080/users/@bob"),
    ("file:///home/u@x/d.csv", "file:///home/u@x/d.csv"),
])
def test_urls_lose_userinfo_and_secret_query_values(url, shown):
    assert redact_url(url) == shown


def test_urls_inside_text_are_redacted_and_the_sentence_kept():
    text = "cannot read https://u:pw@h/x?token=abc, retried (see https://h/y?key=k)."
    assert redact_text(text) == ("cannot read https://***@h/x?token=***, retried "
                                 "(see https://h/y?key=***).")
    assert redact_text("no url here: a=b") == "no url here: a=b"


def test_parameters_named_like_secrets_are_masked_whatever_their_value():
    params = {"source": "https://user:pw@host/x?token=abc", "api_token": "abc",
              "db_password": "pw", "headers": {"Authorization": "Bearer abc"},
              "columns": ["https://a:pw@b/"], "secret": None, "cv": 3, "model": "m"}
    assert redact(params) == {
        "source": "https://***@host/x?token=***", "api_token": "***", "db_password": "***",
        "headers": {"Authorization": "***"}, "columns": ["https://***@b/"], "secret": None,
        "cv": 3, "model": "m"}
    # hub's own records: keys are hub's, only text is redacted
    assert redact({"primary_key": "id"}, by_key=False) == {"primary_key": "id"}


def test_injected_parameters_cell_is_redacted_line_by_line():
    source = ('# Parameters\nsource = "https://user:pw@host/x?token=abc"\n'
              'password = "hun#ter2"  # a comment\nmodel = "m"\n')
    assert redact_code(source) == ('# Parameters\nsource = "https://***@host/x?token=***"\n'
                                   "password = '***'\nmodel = \"m\"\n")


def test_a_password_cut_short_by_urllib_is_a_secret_masked_anywhere():
    url = "redis://:Xy7/ab+c=@h:6379/0/s"
    assert redact_text(f"cannot log in with 'Xy7/ab+c=' at {url}", secrets_of(url)) == (
        "cannot log in with '***' at redis://***@h:6379/0/s")
