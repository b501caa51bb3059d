"""Postfix's smtp-sink as the daily send benchmark's SMTP server: who got what is still counted exactly."""

import smtplib
from collections.abc import Iterator
from contextlib import closing

import pytest
from django.test import override_settings

from bench import daily_send
from bench.postfix_sink import PostfixSink, find_smtp_sink
from musicdrops.drops.mailer import Email, send_each
from musicdrops.env import mailer_config

needs_smtp_sink = pytest.mark.skipif(find_smtp_sink() is None, reason="smtp-sink (Debian package postfix) missing")


@pytest.fixture
def sink() -> Iterator[PostfixSink]:
    with PostfixSink() as sink:
        yield sink


def email(to: str) -> Email:
    return Email(
        subject="New music", text="X-Rcpt-Args: <not-a-recipient@example.com>\n", html="<p>h</p>",
        from_email="MusicDrops <drops@example.com>", to=to, headers={"Message-ID": f"<{to}>"},
    )  # fmt: skip


@needs_smtp_sink
def test_every_message_and_recipient_is_counted_and_a_repeat_is_reported(sink: PostfixSink) -> None:
    recipients = [f"fan{n}@example.com" for n in range(50)]
    messages = ((to, email(to)) for to in [*recipients, "fan7@example.com"])
    with (
        override_settings(MAILERS={"sink": mailer_config(sink.url)}),
        closing(send_each(messages, using="sink")) as sent,
    ):
        assert [error for _, error in sent] == [None] * 51

    assert sink.wait_for(51, timeout=10) == 51
    stats = sink.stats()
    assert (stats["messages"], stats["unique_recipients"]) == (51, 50)
    assert stats["duplicates"] == {"fan7@example.com": 2}
    assert stats["last_at"] is not None


@needs_smtp_sink
def test_reset_counts_from_there(sink: PostfixSink) -> None:
    port = int(sink.url.rsplit(":", 1)[1])
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail("d@example.com", ["a@example.com"], b"Subject: one\r\n\r\n.\r\n")
        sink.wait_for(1)
        sink.reset()
        client.sendmail("d@example.com", ["a@example.com", "b@example.com"], b"Subject: two\r\n\r\nhi\r\n")
        sink.wait_for(1)

    stats = sink.stats()
    assert (stats["messages"], stats["recipients"], stats["duplicates"]) == (1, 2, {})


@needs_smtp_sink
def test_the_dump_goes_away_with_the_sink() -> None:
    with PostfixSink() as sink:
        directory = sink.dump.parent
        assert directory.is_dir()
    assert not directory.exists()


def test_without_smtp_sink_the_benchmark_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr("bench.postfix_sink.find_smtp_sink", lambda: None)

    with pytest.raises(SystemExit, match="install Debian's postfix package"):
        daily_send.open_sink()


@needs_smtp_sink
def test_a_pipelined_stream_of_messages_arrives_once_each(sink: PostfixSink) -> None:
    recipients = [f"fan{n}@example.com" for n in range(300)]
    messages = ((to, email(to)) for to in recipients)
    with (
        override_settings(MAILERS={"sink": mailer_config(sink.url)}),
        closing(send_each(messages, using="sink")) as sent,
    ):
        results = list(sent)

    assert results == [(to, None) for to in recipients]
    sink.wait_for(300)
    stats = sink.stats()
    assert (stats["messages"], stats["unique_recipients"], stats["duplicates"]) == (300, 300, {})
