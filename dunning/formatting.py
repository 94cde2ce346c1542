"""Values turned into the strings templates print; templates compute nothing."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import phonenumbers

CENT = Decimal("0.01")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
E164 = re.compile(r"\+[1-9]\d{1,14}")

# GSM 03.38 default alphabet (ESC, which only introduces the extension table,
# is left out) and the extension characters, each sent as ESC + one septet.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# Units (septets for GSM-7, UTF-16 code units for UCS-2) in one message, and in
# each part of a message split into several (the rest carries the UDH header).
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def money(amount: Decimal, currency: str) -> str:
    """Amount rounded half up to the cent: ``¥12,345.67`` or ``USD 12,345.67``."""
    # TODO: call scripts read this aloud; how the voice speaks "¥" and the
    # thousands commas is unchecked, and a misread currency misstates the debt.
    if not isinstance(amount, Decimal):
        raise TypeError(
            f"money() takes a Decimal, got {type(amount).__name__} {amount!r}; "
            "build amounts with Decimal('...') so cents are exact"
        )
    if not amount.is_finite():
        raise ValueError(f"money() got {amount!r}, which is not an amount")
    if not CURRENCY_CODE.fullmatch(currency):
        raise ValueError(
            f"money() got currency {currency!r}; pass an ISO 4217 code like 'CNY'"
        )
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if cents < 0 else ""
    digits = f"{abs(cents):,.2f}"
    if currency == "CNY":
        return f"{sign}¥{digits}"
    return f"{sign}{currency} {digits}"


def cn_date(d: date) -> str:
    """``2026年11月30日``: the written Chinese date, no leading zeros."""
    return f"{d.year}年{d.month}月{d.day}日"


def mask_phone(e164: str) -> str:
    """Country code and last four digits kept: ``+86*******8000``."""
    if not E164.fullmatch(e164):
        raise ValueError("mask_phone() needs an E.164 number like +8613800138000")
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            "mask_phone() got a number with no known country code"
        ) from exc
    country = str(number.country_code)
    national = e164[1 + len(country) :]
    return f"+{country}{_mask_tail(national)}"


def mask_id(value: str) -> str:
    """Every character but the last four replaced by ``*``; all of a short one."""
    return _mask_tail(value)


def _mask_tail(value: str) -> str:
    # A value of four characters or fewer would be shown whole: hide all of it.
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def sms_segments(body: str) -> int:
    """How many SMS segments the body is sent as (0 for an empty body).

    GSM-7 when every character is in the default alphabet or its extension table
    (an extension character takes two septets), otherwise UCS-2 counted in UTF-16
    code units. A split message is packed part by part, as handsets and Twilio
    do, so an escape pair or a surrogate pair never straddles two parts.
    """
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body):
        units = [2 if ch in GSM7_EXTENSION else 1 for ch in body]
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        units = [len(ch.encode("utf-16-le")) // 2 for ch in body]
        single, part = UCS2_SINGLE, UCS2_PART
    if sum(units) <= single:
        return 1 if units else 0
    parts, used = 1, 0
    for size in units:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


# An ID card number (17 digits and a check character) or a run of seven or more
# digits, spaces and dashes allowed inside (a phone number, an account), but
# not a date like 2026-11-30.
_IDENTIFYING = re.compile(
    r"(?<!\d)(?:\d{17}[\dXx]|(?!\d{4}-\d{1,2}-\d{1,2}(?!\d))\+?\d[\d -]{5,}\d)"
)


def scrub(text: str) -> str:
    """Free text an operator typed, with any number in it masked to its last 4."""
    return _IDENTIFYING.sub(
        lambda found: _mask_tail(re.sub(r"[ -]", "", found.group())), text
    )
