"""Credentials never leave the process.

Every API key the project reads is `register`ed; `scrub` removes registered values (raw
and URL-encoded) and, registered or not, the value of any query or form parameter,
quoted key or header named like a credential (key, token, auth, secret, password) from a
text. Stages scrub every log record as it is made, their final error line, and every
failure text they write to a file.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus

MASK = "***"
_registered: set[str] = set()
_CREDENTIAL = r"[\w.-]*(?:key|token|auth|secret|passw(?:or)?d)[\w.-]*"
# A query or form parameter: name=value where the name contains key/token/auth/secret/
# password (api_key, auth_key, access_token, ...), starting the text, a line, a query
# (?), a parameter (&) or a quoted string; the value runs to the next separator. Our own
# messages ("pass any_language_key=True to the Editor") put such names after a space.
_NAMED = re.compile(rf"(?im)(?:^|(?<=[?&'\"]))({_CREDENTIAL})=([^&\s'\"<>;,)]+)")
# The same names as quoted keys with a quoted value: {"api_key": "abc"}, {'token': 'abc'}
_QUOTED = re.compile(rf"(?i)([\"'])({_CREDENTIAL})\1(\s*:\s*)([\"'])[^\"']+\4")
# "Authorization: DeepL-Auth-Key abc", "Bearer abc"
_HEADER = re.compile(r"(?i)\b(DeepL-Auth-Key|Bearer|Basic)\s+[^\s'\"<>;,)]+")
# A header named like X-Api-Key or Ocp-Apim-Subscription-Key: "X-Api-Key: abc"
_KEY_HEADER = re.compile(r"(?i)\b([a-z0-9]+(?:-[a-z0-9]+)*-(?:key|token)):[ \t]*([^\s'\"<>;,)]+)")


def register(value: str | None) -> None:
    """From now on, `value` is masked wherever it appears (values under 4 characters are
    too short to mask without garbling ordinary text)."""
    if value and len(value) >= 4:
        _registered.add(value)


def scrub(text: object) -> str:
    """`text` with every credential replaced by ***."""
    text = str(text)
    for value in sorted(_registered, key=len, reverse=True):
        for form in {value, quote(value, safe=""), quote_plus(value)}:
            text = text.replace(form, MASK)
    text = _NAMED.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}{m.group(4)}", text)
    text = _HEADER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _KEY_HEADER.sub(lambda m: f"{m.group(1)}: {MASK}", text)


def install_log_scrubbing() -> None:
    """Every log record is scrubbed as it is made, whatever handler (tqdm's included)
    later prints it: its message, and its traceback if it carries one."""
    make = logging.getLogRecordFactory()
    if getattr(make, "scrubs", False):
        return

    def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record

    scrubbed_record.scrubs = True
    logging.setLogRecordFactory(scrubbed_record)
