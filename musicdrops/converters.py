"""Path converters of the real shape of every id and token in our URLs: any other shape is a 404, never a view."""

from django.urls import register_converter


class _Converter:
    regex = ""

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class IdConverter:
    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class FeedTokenConverter(_Converter):
    regex = "[A-Za-z0-9_-]{32}"  # secrets.token_urlsafe(24), musicdrops/feeds/models.py


class SignedConverter(_Converter):
    regex = "[A-Za-z0-9_.:-]{1,600}"  # django.core.signing.dumps(): URL-safe base64, "." and ":"


class UnsubscribeTokenConverter(_Converter):
    regex = "[0-9]{1,18}:[A-Za-z0-9_-]{1,100}"  # a user id signed by django.core.signing.Signer


class UidConverter(_Converter):
    regex = "[A-Za-z0-9_-]{1,24}"  # urlsafe_base64_encode of a user id


class ResetTokenConverter(_Converter):
    regex = "[0-9a-z]{1,13}-[0-9a-z]{1,64}"  # PasswordResetTokenGenerator's, and its "set-password"


register_converter(IdConverter, "id")
register_converter(FeedTokenConverter, "feed_token")
register_converter(SignedConverter, "signed")
register_converter(UnsubscribeTokenConverter, "unsubscribe_token")
register_converter(UidConverter, "uidb64")
register_converter(ResetTokenConverter, "reset_token")
