"""Postmark's batch endpoint for the drops: a chunk goes out in a few HTTP requests instead of one per email.

django-anymail's Postmark backend (which this extends, and which sends
everything else) calls ``/email`` once per message: batching there needs a
template stored at Postmark, and our emails differ by more than a merge
field. ``/email/batch`` takes up to 500 whole messages and answers for each
one; ``send_each`` sends BATCH_SIZE at a time and reports every message the
way the SMTP path does, so the ledger records each one as usual.

What the answers mean here:
- 200: per message, ErrorCode 0 is accepted; 300 (invalid address) and 406
  (inactive recipient: it bounced or complained at Postmark) are refusals
  for good; any other code is "try later" for that message alone;
- 422: the request as a whole was refused (one bad field): its messages
  are sent one by one through anymail, so that only the bad one fails;
- 429 and 5xx: nothing was accepted; ``TryLater`` carries the Retry-After;
- a time-out, a dropped connection, or an answer that is not the expected
  JSON: Postmark may have accepted some of the batch. ``TryLater`` too; the
  retry sends those again, with the same Message-ID each, as the SMTP path
  does for the one message in flight when a connection breaks. Postmark
  takes no idempotency key that would let it drop them itself.
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import requests
from anymail.backends.postmark import EmailBackend as AnymailPostmarkBackend
from django.core.mail import EmailMessage

from musicdrops.lib.mail import Refused, TryLater, retry_after, send_each_alone

BATCH_SIZE = 100  # Postmark takes 500; 100 keeps what a lost answer leaves in doubt small
_FOR_GOOD = {300, 406}  # invalid address; inactive recipient (bounced, complained, unsubscribed at Postmark)


class PostmarkBackend(AnymailPostmarkBackend):
    """anymail's Postmark backend, plus ``send_each`` on the batch endpoint."""

    def send_each[K](
        self, keys: Iterable[K], build: Callable[[K], EmailMessage]
    ) -> Iterator[tuple[K, Exception | None]]:
        """``lib.mail.send_each`` for Postmark: BATCH_SIZE messages per request, each answered for itself."""
        pending = iter(keys)
        while batch := list(islice(pending, BATCH_SIZE)):
            built: list[tuple[K, EmailMessage]] = []
            for key in batch:
                try:
                    built.append((key, build(key)))
                except ValueError as error:  # an address or header we cannot write: this one only
                    yield key, error
            if built:
                yield from self._send_batch(built)

    def _send_batch[K](self, built: list[tuple[K, EmailMessage]]) -> Iterator[tuple[K, Exception | None]]:
        try:
            response = self.session.post(
                self.api_url + "email/batch",
                json=[self._payload(message) for _, message in built],
                headers={"X-Postmark-Server-Token": self.server_token, "Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise TryLater(f"Postmark: {type(error).__name__}: {error}") from error
        if response.status_code == 422:
            # One message made the whole request invalid: one by one, so that only that one fails.
            yield from send_each_alone(self, [key for key, _ in built], dict(built).__getitem__)
            return
        if response.status_code == 429 or response.status_code >= 500:
            raise TryLater(f"Postmark answered {response.status_code}", retry_after(response))
        if response.status_code != 200:
            raise TryLater(f"Postmark answered {response.status_code}: {response.text[:200]}")
        results = _results(response, len(built))
        for (key, _), result in zip(built, results, strict=True):
            code, text = result.get("ErrorCode"), str(result.get("Message", ""))[:300]
            if code == 0:
                yield key, None
            else:
                yield key, Refused(f"Postmark {code}: {text}", permanent=code in _FOR_GOOD)

    def _payload(self, message: EmailMessage) -> dict[str, Any]:
        html = next((content for content, kind in getattr(message, "alternatives", []) if kind == "text/html"), None)
        payload: dict[str, Any] = {
            "From": message.from_email,
            "To": ", ".join(message.to),
            "Subject": message.subject,
            "TextBody": message.body,
            "Headers": [{"Name": name, "Value": value} for name, value in message.extra_headers.items()],
        }
        if html is not None:
            payload["HtmlBody"] = html
        if self.message_stream:
            payload["MessageStream"] = self.message_stream
        return payload


def _results(response: requests.Response, expected: int) -> list[dict[str, Any]]:
    try:
        results = response.json()
    except ValueError:
        results = None
    if not isinstance(results, list) or len(results) != expected or not all(isinstance(r, dict) for r in results):
        raise TryLater(f"Postmark's answer to a batch of {expected} is not one result per message: "
                       f"{response.text[:200]!r}")  # fmt: skip
    return results
