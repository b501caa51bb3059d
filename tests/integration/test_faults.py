"""The fault drills' own servers, checked with smtplib and psycopg directly (each test well under 2 s)."""

import email.policy
import smtplib
import time
from collections import Counter
from contextlib import closing
from email.message import EmailMessage
from email.utils import make_msgid

import psycopg
import pytest
from django.test import override_settings

from musicdrops.drops.mailer import Email, send_each
from musicdrops.env import mailer_config
from tests.integration.fault_fixtures import faulty_smtp_fixture, private_postgres_fixture  # noqa: F401
from tests.integration.faults import FaultySmtp, PrivatePostgres

pytestmark = pytest.mark.integration

SENDER = "drops@example.com"


def message(to: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"MusicDrops <{SENDER}>"
    mail["To"] = to
    mail["Subject"] = "Today's drop"
    mail["Message-ID"] = make_msgid(domain="example.com")
    mail.set_content("A song.\n.leading dot\n")
    return mail.as_bytes(policy=email.policy.SMTP)  # CRLF line ends, as the app's mailer writes them


def connect(server: FaultySmtp, timeout: float = 2) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=timeout)
    client.ehlo()
    return client


def send_pipelined(client: smtplib.SMTP, recipients: list[str], raw: bytes) -> list[tuple[int, bytes]]:
    """MAIL, RCPT... and DATA in one write, as the app's backend sends them; the replies, the message's end's last."""
    assert client.has_extn("pipelining")
    envelope = f"MAIL FROM:<{SENDER}>\r\n" + "".join(f"RCPT TO:<{r}>\r\n" for r in recipients) + "DATA\r\n"
    client.send(envelope.encode())
    replies = [client.getreply() for _ in range(len(recipients) + 2)]
    if replies[-1][0] == 354:
        client.send(raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")  # dots doubled; raw ends with CRLF
        replies.append(client.getreply())
    else:
        client.rset()
    return replies


def test_delay_holds_each_messages_end_and_every_message_is_kept(faulty_smtp: FaultySmtp) -> None:
    faulty_smtp.delay = 0.3
    client = connect(faulty_smtp)
    started = time.monotonic()
    client.sendmail(SENDER, ["a@example.com"], message("a@example.com"))
    assert time.monotonic() - started >= 0.3
    faulty_smtp.delay = 0
    replies = send_pipelined(client, ["b@example.com"], message("b@example.com"))
    client.quit()

    assert [code for code, _ in replies] == [250, 250, 354, 250]
    assert faulty_smtp.recipients() == Counter({"a@example.com": 1, "b@example.com": 1})
    assert faulty_smtp.envelope_recipients() == Counter({"a@example.com": 1, "b@example.com": 1})
    assert all(len(ids) == 1 for ids in faulty_smtp.message_ids().values())
    assert faulty_smtp.messages[0].get_content() == "A song.\r\n.leading dot\r\n"  # dots unstuffed
    assert not any(a.client_gone for a in faulty_smtp.accepted_messages())


def test_451_at_rcpt_for_n_times_then_250(faulty_smtp: FaultySmtp) -> None:
    faulty_smtp.refuse(451, "4.7.1 Try again later", stage="rcpt", count=3)
    client = connect(faulty_smtp)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(SENDER, ["a@example.com"], message("a@example.com"))
        assert refused.value.recipients == {"a@example.com": (451, b"4.7.1 Try again later")}
    # Pipelined: the refused RCPT leaves DATA without a recipient.
    assert [code for code, _ in send_pipelined(client, ["a@example.com"], message("a@example.com"))] == [250, 451, 503]
    assert [code for code, _ in send_pipelined(client, ["a@example.com"], message("a@example.com"))] == [
        250,
        250,
        354,
        250,
    ]
    client.quit()

    assert (faulty_smtp.refused, faulty_smtp.accepted) == (3, 1)
    assert {(r.stage, r.code) for r in faulty_smtp.refusals()} == {("rcpt", 451)}


def test_a_permanently_refused_recipient_and_refusals_at_mail_and_data(faulty_smtp: FaultySmtp) -> None:
    faulty_smtp.refuse_recipient("gone@example.com")
    faulty_smtp.refuse(451, "4.3.0 Queue full", stage="data", count=1)
    client = connect(faulty_smtp)
    with pytest.raises(smtplib.SMTPDataError) as at_data:
        client.sendmail(SENDER, ["a@example.com"], message("a@example.com"))
    assert at_data.value.smtp_code == 451
    replies = send_pipelined(client, ["gone@example.com", "a@example.com"], message("a@example.com"))
    assert [code for code, _ in replies] == [250, 550, 250, 354, 250]

    window = faulty_smtp.refuse(421, "4.7.0 Not now", stage="mail", seconds=0.3)
    with pytest.raises(smtplib.SMTPSenderRefused):
        client.sendmail(SENDER, ["b@example.com"], message("b@example.com"))
    assert window.hits == 1
    time.sleep(0.3)
    client = connect(faulty_smtp)  # smtplib closes after a 421
    client.sendmail(SENDER, ["b@example.com"], message("b@example.com"))
    client.quit()

    assert faulty_smtp.envelope_recipients() == Counter({"a@example.com": 1, "b@example.com": 1})
    assert [r.code for r in faulty_smtp.refusals()] == [451, 550, 421]


def test_421_disconnect_closes_the_connection_mid_pipeline(faulty_smtp: FaultySmtp) -> None:
    faulty_smtp.disconnect_with_421(stage="rcpt", count=1)
    client = connect(faulty_smtp)
    client.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n".encode())
    assert client.getreply()[0] == 250
    assert client.getreply() == (421, b"4.3.2 Service shutting down, closing channel")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.getreply()  # nothing answers the pipelined DATA
    client.close()

    faulty_smtp.disconnect_with_421(stage="data", count=1)
    client = connect(faulty_smtp)
    with pytest.raises(smtplib.SMTPDataError) as at_data:
        client.sendmail(SENDER, ["a@example.com"], message("a@example.com"))
    assert at_data.value.smtp_code == 421
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    client.close()

    client = connect(faulty_smtp)  # the faults are used up
    client.sendmail(SENDER, ["a@example.com"], message("a@example.com"))
    client.quit()
    assert (faulty_smtp.accepted, faulty_smtp.refused) == (1, 2)
    assert all(r.disconnected for r in faulty_smtp.refusals())


def test_stall_makes_the_client_time_out_or_answers_late(faulty_smtp: FaultySmtp) -> None:
    window = faulty_smtp.stall(0.6, stage="data")  # answers to a message's end wait until 0.6 s from now
    client = connect(faulty_smtp, timeout=0.2)
    # smtplib turns a read time-out into SMTPServerDisconnected, and closes the connection.
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out") as timed_out:
        client.sendmail(SENDER, ["a@example.com"], message("a@example.com"))
    assert isinstance(timed_out.value.__context__, TimeoutError)
    # The server had the whole message: it keeps it, as a real one would, though the client never saw "250".
    faulty_smtp.wait_for(1, timeout=1)
    (late,) = faulty_smtp.accepted_messages()
    assert late.client_gone
    window.cancel()

    faulty_smtp.stall(0.3, count=1)  # the next answer, whatever it is (here EHLO), is 0.3 s late
    started = time.monotonic()
    client = connect(faulty_smtp, timeout=2)
    client.sendmail(SENDER, ["b@example.com"], message("b@example.com"))
    client.quit()
    assert time.monotonic() - started >= 0.3
    assert faulty_smtp.stalls == 2

    faulty_smtp.stall(0.3, stage="data", keep=False)  # a server that had not committed it drops it
    client = connect(faulty_smtp, timeout=0.1)
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
        client.sendmail(SENDER, ["c@example.com"], message("c@example.com"))
    time.sleep(0.4)
    assert faulty_smtp.recipients() == Counter({"a@example.com": 1, "b@example.com": 1})


def test_wait_for_says_what_the_server_did_when_it_times_out(faulty_smtp: FaultySmtp) -> None:
    faulty_smtp.refuse_recipient("gone@example.com")
    client = connect(faulty_smtp)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        client.sendmail(SENDER, ["gone@example.com"], message("gone@example.com"))
    client.quit()
    with pytest.raises(AssertionError, match=r"1 accepted emails; 0 accepted .* 1 refused \{'rcpt:550': 1\}"):
        faulty_smtp.wait_for(1, timeout=0.1)


def test_the_apps_own_backend_meets_each_fault(faulty_smtp: FaultySmtp) -> None:
    """The app's pipelined stream, with the socket time-out a test in its own process can choose.

    What is checked is the server's side; of the client's, only that nothing refused counts as sent
    (whether a refusal is yielded for one message or raised for the task is the app's choice).
    """
    config = mailer_config(faulty_smtp.url)
    config["OPTIONS"]["timeout"] = 0.3  # EMAIL_URL cannot say it: the app's is 20 s

    def build(key: str) -> Email:
        return Email(subject="S", text="t", html="<p>h</p>", from_email=SENDER, to=f"{key}@example.com", headers={})

    def send(keys: list[str]) -> list[tuple[str, str | None]]:
        """(key, None) for each message sent, (key, error) for each refused, ("raised", error) if the stream raised."""
        outcomes: list[tuple[str, str | None]] = []
        try:
            with closing(send_each(((key, build(key)) for key in keys), using="faulty")) as results:
                for key, error in results:
                    outcomes.append((key, type(error).__name__ if error else None))
        except smtplib.SMTPException as error:
            outcomes.append(("raised", type(error).__name__))
        return outcomes

    faulty_smtp.delay = 0.01
    faulty_smtp.refuse_recipient("gone@example.com")
    faulty_smtp.refuse(451, stage="data", count=1, addresses=["c@example.com"])
    with override_settings(MAILERS={"faulty": config}):
        assert send(["a", "gone", "b"]) == [("a", None), ("gone", "SMTPRecipientsRefused"), ("b", None)]
        assert send(["c"]) in ([("c", "SMTPDataError")], [("raised", "SMTPDataError")])
        faulty_smtp.disconnect_with_421(stage="rcpt", count=1)
        assert send(["c"]) == [("raised", "SMTPServerDisconnected")]
        faulty_smtp.stall(0.6, stage="data", count=1)
        assert send(["c"]) == [("raised", "SMTPServerDisconnected")]  # "timed out"
        faulty_smtp.wait_for(3, timeout=1)
        assert send(["c"]) == [("c", None)]  # the retry

    # The time-out is the one way to a repeat: the server had kept the message the client gave up on.
    assert faulty_smtp.recipients() == Counter({"a@example.com": 1, "b@example.com": 1, "c@example.com": 2})
    assert [a.client_gone for a in faulty_smtp.accepted_messages()] == [False, False, True, False]
    assert [(r.stage, r.code) for r in faulty_smtp.refusals()] == [("rcpt", 550), ("data", 451), ("rcpt", 421)]


def test_private_postgres_stops_and_starts_again(private_postgres: PrivatePostgres) -> None:
    url = private_postgres.create_database("drill")
    assert private_postgres.url("drill") == url
    with psycopg.connect(url) as connection:
        connection.execute("CREATE TABLE sent (address text PRIMARY KEY)")
        connection.execute("INSERT INTO sent VALUES ('a@example.com')")

    started = time.monotonic()
    private_postgres.stop("immediate")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    private_postgres.start()
    print(f"stopped and started again in {time.monotonic() - started:.2f} s")

    # A crash loses nothing that was committed, and the URL is the same.
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT address FROM sent").fetchall() == [("a@example.com",)]
    private_postgres.stop("fast")
    assert not private_postgres.running
