"""Email backends of our own."""

from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend


class ReadableConsoleBackend(DjangoConsoleBackend):
    """Print emails as a person reads them: headers, then the decoded plain-text body.

    Django's console backend prints the MIME source, where quoted-printable
    encoding breaks long links across lines; in development the links
    (verification, password reset) are exactly what you want to click.
    """

    def write_message(self, message: Any) -> None:
        assert isinstance(message, EmailMessage)
        mime = message.message()
        lines = [f"{name}: {mime[name]}" for name in ("Message-ID", "From", "To", "Subject") if mime[name]]
        lines += [f"{name}: {value}" for name, value in message.extra_headers.items() if name.startswith("List-")]
        alternatives = getattr(message, "alternatives", [])
        if alternatives:
            lines.append("(also has " + ", ".join(alt.mimetype for alt in alternatives) + " parts, not shown)")
        self.stream.write("\n".join(lines) + "\n\n" + str(message.body) + "\n" + "-" * 79 + "\n")
