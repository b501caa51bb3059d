"""`make run`'s emails stand out among the log lines: framed, with who it is for and its subject on top."""

import io

from django.core import mail

from musicdrops.console_mail import ConsoleBackend


def test_an_email_is_framed_with_its_recipient_and_subject_and_its_links_whole():
    link = "http://localhost:8000/accounts/verify/MTIz/" + "abcdef" * 12 + "/"
    stream = io.StringIO()

    ConsoleBackend(stream=stream).send_messages(
        [mail.EmailMessage("Confirm your email", f"Hi,\n{link}\n", "d@example.com", ["fan@example.com"])]
    )

    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("═══ Email to fan@example.com: Confirm your email ═")
    assert lines[-1] == "═" * 79
    assert link in lines
