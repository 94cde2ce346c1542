"""Phone numbers: parsed once at the edge into E.164, masked wherever shown."""

from __future__ import annotations

from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberType

from dunning.errors import DunningError

_LINE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
}

_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
        "the country code or region is unknown"
    ),
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "it is too short",
    phonenumbers.NumberParseException.TOO_LONG: "it is too long",
}


class InvalidPhoneNumber(DunningError, ValueError):
    """A phone number that does not parse or is not a valid number.

    The message carries the masked value only, so it is safe to log.
    """


class PhoneNumber(NamedTuple):
    e164: str
    # mobile, fixed_line, fixed_line_or_mobile, voip, toll_free or other.
    line_type: str


def mask(number: str) -> str:
    """Keep the last four characters and star the rest: ``*******1234``.

    The length stays visible so two masked values can still be told apart in a
    rejects file; a value of four characters or fewer is starred entirely.
    """
    text = number.strip()
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def normalise(raw: str, region: str = "CN") -> PhoneNumber:
    """Parse ``raw`` as dialled in ``region`` and return it in E.164 with its type.

    Raises:
        InvalidPhoneNumber: the value does not parse, or phonenumbers does not
            consider it a valid number.
    """
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("phone number is empty")
    if ";" in text:
        # phonenumbers reads ";" as the start of parameters and drops the rest,
        # which would lose a second number without a word.
        raise InvalidPhoneNumber(
            f"phone value {mask(text)} holds more than one number; give one"
        )
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        why = _PARSE_ERRORS.get(exc.error_type, "it is not a phone number")
        raise InvalidPhoneNumber(
            f"phone number {mask(text)} does not parse for region {region}: {why}"
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(
            f"phone number {mask(text)} is not a valid number for region {region}"
        )
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    line_type = _LINE_TYPES.get(phonenumbers.number_type(parsed), "other")
    return PhoneNumber(e164, line_type)
