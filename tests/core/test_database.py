"""Connecting to PostgreSQL: the URL's label and the settings every session gets."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from bot.database import CONNECT_TIMEOUT_SECONDS, conninfo, reason, safe_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://epm:s3cret%40pw@db.example:6432/close?sslmode=require",
        "host=db.example port=6432 dbname=close user=epm password=s3cret@pw",
    ],
)
def test_the_label_names_host_port_and_database_but_never_the_password(url: str) -> None:
    """Both URL forms give the same label, and no part of the password is in it."""
    label = safe_url(url)
    assert label == "postgresql://db.example:6432/close"
    assert "s3cret" not in label


def test_an_unparsable_url_is_labelled_without_echoing_it() -> None:
    """A URL psycopg cannot read is named as such, not repeated (it may hold a password)."""
    assert safe_url("postgresql://epm:pw@db/x?nonsense=1") == "(an unparsable database URL)"


def test_sessions_notice_a_dead_peer_unless_the_url_says_otherwise() -> None:
    """Keepalives and a connect timeout are added; the URL's own values are kept."""
    params = conninfo_to_dict(conninfo("postgresql://epm@db/close?keepalives_idle=30"))
    assert params["connect_timeout"] == str(CONNECT_TIMEOUT_SECONDS)
    assert params["keepalives"] == "1"
    assert params["keepalives_idle"] == "30"
    assert params["application_name"] == "epmpulse"


def test_explicit_settings_win_over_the_url_and_the_defaults() -> None:
    """What a caller passes (the leader's tighter keepalives) overrides both."""
    url = "postgresql://epm@db/close?keepalives_idle=30&application_name=mine"
    params = conninfo_to_dict(conninfo(url, keepalives_idle=3, tcp_user_timeout=3000))
    assert params["keepalives_idle"] == "3"
    assert params["tcp_user_timeout"] == "3000"
    assert params["application_name"] == "mine"


def test_a_reason_is_the_first_line_of_the_error_or_its_type() -> None:
    """Multi-line server errors are cut to their first line; an empty one gives the type."""
    assert reason(psycopg.OperationalError("refused\nDETAIL: more")) == "refused"
    assert reason(psycopg.OperationalError("")) == "OperationalError"
