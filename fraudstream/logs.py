"""Logging: text or JSON lines, with secrets and personal data redacted before anything is written.

Theory of operation
-------------------
The processor never logs a record: messages carry counts, topics, partitions and offsets. But an
exception text may quote a value, and a third-party library (aiokafka at DEBUG) may dump whole
requests, whose bytes hold the records and, for SASL/PLAIN, the password. So every line written
by the handler that `configure` installs passes two guards:

1. `PayloadFilter` replaces, before formatting, every `bytes` argument and every aiokafka
   protocol object (requests, responses, consumer records) by a placeholder such as
   `<ProduceRequest_v7>` or `<1024 bytes>`: payloads never reach a log line, at any level.
2. `redact` masks what is left in the text: values of secret-like keys (password, secret,
   token...), values of personal-data fields (narrative, name, account, card, iban, email...)
   when a message quotes a `field: value` or `field=value` pair, e-mail addresses, IBANs, and
   card- or account-like digit runs (8+ digits, spaces or dashes allowed), of which only the
   last four characters are kept.

Third-party loggers stay at WARNING or above unless asked otherwise; even at DEBUG the guards
hold (the leak test runs every logger at DEBUG).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, TextIO

import orjson

# 8+ digits possibly split by spaces or dashes (card and account numbers), and IBANs; not the
# digits of a decimal number (a threshold of 0.0227517657 is not an account).
_DIGITS = re.compile(r"(?<![\w.])(?:\d[ -]?){7,}\d(?![\w]|\.\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b")
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+\b")
_SECRETISH = re.compile(
    r"(?i)(password|passwd|secret|token|sasl_plain_password|api_key|private_key)"
    r"(['\"]?\s*[:=]\s*['\"]?)([^\s'\",}]+)"
)
# `field: value` / `field=value` pairs of personal data, as in a quoted dict or JSON object.
_PERSONAL_FIELD = re.compile(
    r"(?i)(\b(?:narrative|memo|description|remittance\w*|name|first_name|last_name|full_name|"
    r"account|account_id|account_number|card|card_id|card_number|pan|iban|counterparty\w*|"
    r"beneficiary\w*|email|phone|address)['\"]?\s*[:=]\s*)"
    r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,;)}\]]+)"
)
MASK = "***"


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    return "*" * (len(text) - 4) + text[-4:]


def _mask_field(match: re.Match[str]) -> str:
    value = match.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{quote}{MASK}{quote}"


def mask_identifiers(text: str) -> str:
    """Card- and account-like digit runs, IBANs and e-mail addresses masked (last four kept for
    numbers). For free text that is meant to be read, such as the narrative of an alert."""
    text = _EMAIL.sub(MASK, text)
    text = _IBAN.sub(_mask, text)
    return _DIGITS.sub(_mask, text)


def redact(text: str) -> str:
    """Everything `mask_identifiers` masks, plus secret values and personal-data fields."""
    text = _SECRETISH.sub(lambda m: m.group(1) + m.group(2) + "******", text)
    text = _PERSONAL_FIELD.sub(_mask_field, text)
    return mask_identifiers(text)


def _scrub(arg: Any) -> Any:
    if isinstance(arg, bytes | bytearray | memoryview):
        return f"<{len(arg)} bytes>"
    module = type(arg).__module__
    if module.startswith(("aiokafka.protocol", "aiokafka.structs", "aiokafka.record")):
        return f"<{type(arg).__name__}>"
    return arg


class PayloadFilter(logging.Filter):
    """Replaces payload-carrying arguments of a record by placeholders (see the module doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_scrub(a) for a in args)
        elif isinstance(args, dict):
            record.args = {k: _scrub(v) for k, v in args.items()}
        return True


class RedactingFormatter(logging.Formatter):
    """Redacts the message and the traceback, not the line's own timestamp (a date is not an
    account number)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = redact(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(doc).decode()


THIRD_PARTY = ("aiokafka", "kafka", "faust", "mode")

# What aiokafka logs at WARNING or ERROR while a group forms or a topic is new, and then retries
# by itself: not something an operator must act on. A failure that lasts shows in our own
# lines (the connection check, readiness, lag), not in these.
_TRANSIENT = re.compile(
    r"Group Coordinator Request failed|Marking the coordinator dead|"
    r"GroupCoordinatorNotAvailable|NotCoordinatorForGroup|CoordinatorNotAvailable|"
    r"Failed fetch offsets from .*NotLeaderForPartition|Topic .* not found in cluster metadata|"
    r"LeaderNotAvailable|UnknownTopicOrPartition"
)


class TransientFilter(logging.Filter):
    """aiokafka's start-up transients (`_TRANSIENT`) become INFO lines, shown only when the
    third-party loggers are at INFO or below."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or record.levelno < logging.WARNING:
            return True
        if not _TRANSIENT.search(record.getMessage()):
            return True
        record.levelno, record.levelname = logging.INFO, "INFO"
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def make_handler(fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """A handler that writes redacted lines (text, or JSON lines with `fmt="json"`)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(PayloadFilter())
    handler.addFilter(TransientFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def configure(
    level: str = "INFO",
    fmt: str = "text",
    *,
    stream: TextIO | None = None,
    third_party_level: str | None = None,
) -> logging.Handler:
    """Send every logger's records through one redacting handler; return that handler.

    Third-party loggers get `third_party_level`, by default `level` but never below WARNING
    (aiokafka's DEBUG output is a dump of the wire protocol).
    """
    handler = make_handler(fmt, stream)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = third_party_level or max(logging.getLevelName(level), logging.WARNING)
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(quiet)
    return handler
