"""Development's email backend (EMAIL_URL unset): each email printed as a person reads it."""

import sys
import threading
from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend


class ConsoleBackend(BaseEmailBackend):
    """Development's mailer (EMAIL_URL unset): emails printed as read, not as MIME (quoted-printable breaks links)."""

    def __init__(self, *, stream: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            headers = {"Message-ID": message.extra_headers.get("Message-ID", ""), "From": message.from_email,
                       "To": ", ".join(message.to), "Subject": str(message.subject)}  # fmt: skip
            headers |= {name: value for name, value in message.extra_headers.items() if name.startswith("List-")}
            lines = [f"{name}: {value}" for name, value in headers.items() if value]
            if alternatives := getattr(message, "alternatives", []):
                lines.append("(also has " + ", ".join(alt.mimetype for alt in alternatives) + " parts, not shown)")
            # Framed, so that it stands out among the log lines around it; no prefix on its lines: links copy whole.
            top = f"═══ Email to {', '.join(message.to)}: {message.subject} "
            framed = [top + "═" * max(3, 79 - len(top)), *lines, "", str(message.body).rstrip("\n"), "═" * 79]
            with self._lock:
                self.stream.write("\n".join(framed) + "\n")
                self.stream.flush()
        return len(email_messages)
