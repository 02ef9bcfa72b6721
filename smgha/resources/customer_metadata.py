"""The lineage register-and-gate records on a model package, as SageMaker holds it in the
package's CustomerMetadataProperties: the rule SageMaker sets for that map, and the encoding
that fits any lineage into it (storable_lineage) and reads it back (read_lineage).

Pure: no backend, no runner.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from smgha.errors import StageError

# Customer metadata keys are namespaced so ours never collide with a team's own.
PREFIX = "smgha:"

# SageMaker's rule for CustomerMetadataProperties, from botocore's sagemaker service model
# (botocore 1.44.8; shapes CustomerMetadataMap, CustomerMetadataKey, CustomerMetadataValue):
#     key and value pattern  ([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)
#     key length 1-128, value length 1-256, at most 50 entries in the map.
# botocore and moto check none of it; SageMaker answers ValidationException. The `regex`
# package that reads \p{...} is no dependency of smgha, so a character is allowed when its
# Unicode general category is a letter (L*), a separator (Z*) or a number (N*), which is
# what \p{L}, \p{Z} and \p{N} test, or when it is one of METADATA_SYMBOLS. Lengths are
# counted in UTF-16 code units (Java's String.length(); never fewer than characters).
METADATA_SYMBOLS = frozenset("_.:/=+-@")
METADATA_MAX_KEY = 128
METADATA_MAX_VALUE = 256
METADATA_MAX_ENTRIES = 50
# How the lineage fits that rule (storable_lineage writes it, read_lineage reads it):
# - A character outside the allowed set, and the escape character `=` itself, is written as
#   `=XX` per UTF-8 byte (upper-case hex), as quoted-printable does: "hotfix, see INC-12" is
#   stored as "hotfix=2C see INC-12", "dependabot[bot]" as "dependabot=5Bbot=5D". Keys too
#   ("smgha:metric:f1 =28macro=29"). Not percent-encoding (`%` is not allowed) and not base32
#   under a marked key: the text stays readable in the console, and a name always has the
#   same key whatever its value, so a re-run overwrites it.
# - A value longer than 256 once encoded is split: its key holds "==<n>==" and the first
#   part, `<key>==2` ... `<key>==<n>` the others. Encoded text never holds "==" (every `=`
#   is followed by two hex digits), so neither can be taken for data, and parts a longer
#   earlier value left behind are ignored.
# - UpdateModelPackage never removes a key, so one an earlier run on the package wrote and
#   this one does not (`forced-by` after a forced run, a metric no longer evaluated) is
#   rewritten as "==0==removed" (no parts), which read_lineage skips: the lineage read back
#   is the last run's, and the package holds no more keys than before.
# - Metrics, the gate's first: the first METADATA_METRIC_KEYS get a key each
#   (`smgha:metric:<name>`); the others, and any whose key would be too long, are packed as
#   `name:value name:value ...` into `smgha:more-metrics` (with ` ` and `:` escaped too,
#   and split like any long value). If the package's 50 entries (its own keys count) still
#   do not suffice, more are packed, then the last metrics (never the gate's) are left out,
#   counted in `smgha:metrics-left-out`, with a warning.
METADATA_METRIC_KEYS = 20
METRIC = "metric:"
MORE_METRICS = "more-metrics"
METRICS_LEFT_OUT = "metrics-left-out"
_PART = "=="
_SPLIT_HEADER = re.compile(r"==(\d+)==")
_REMOVED = "==0==removed"
_ESCAPES = re.compile(r"(?:=[0-9A-F]{2})+")


@dataclass(frozen=True)
class StoredLineage:
    properties: dict[str, str]  # CustomerMetadataProperties to send
    left_out: tuple[str, ...] = ()  # metric names not recorded: they did not fit


class _KeyTooLong(Exception):
    pass


def utf16_units(text: str) -> int:
    """Length as SageMaker counts it: UTF-16 code units (two for a character past U+FFFF)."""
    return len(text) + sum(ord(char) > 0xFFFF for char in text)


def _escaped(char: str, also: str = "") -> str:
    """`char` as stored: itself when SageMaker allows it (and it is neither `=` nor in
    `also`), else `=XX` per UTF-8 byte."""
    allowed = char in METADATA_SYMBOLS or unicodedata.category(char)[0] in "LNZ"
    if allowed and char != "=" and char not in also:
        return char
    return "".join(f"={byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def encode_metadata_text(text: str) -> str:
    """`text` with only characters SageMaker allows in metadata; decode_metadata_text undoes it."""
    return "".join(map(_escaped, text))


def decode_metadata_text(text: str) -> str:
    """The text encode_metadata_text encoded. Text stored before there was an encoding reads
    as it is, unless it holds `=` and two upper-case hex digits that make UTF-8."""

    def decoded(match: re.Match[str]) -> str:
        try:
            return bytes.fromhex(match[0].replace("=", "")).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return match[0]

    return _ESCAPES.sub(decoded, text)


def _stored_entries(name: str, pieces: list[str]) -> dict[str, str]:
    """One lineage entry, its value given as encoded pieces (never cut inside one), as
    stored entries: one, or the parts of a long value. _KeyTooLong when the key does not fit."""
    key = PREFIX + encode_metadata_text(name)
    if not pieces:
        raise ValueError(f"lineage {name!r} is empty: SageMaker stores no empty value")
    if sum(map(utf16_units, pieces)) <= METADATA_MAX_VALUE:
        parts = ["".join(pieces)]
    else:
        for digits in (1, 2, 3, 4):  # the header's length depends on the number of parts
            parts = _split(pieces, METADATA_MAX_VALUE - 2 * len(_PART) - digits)
            if len(str(len(parts))) <= digits:
                break
        parts[0] = f"{_PART}{len(parts)}{_PART}{parts[0]}"
    longest_key = key + (f"{_PART}{len(parts)}" if len(parts) > 1 else "")
    if utf16_units(longest_key) > METADATA_MAX_KEY:
        raise _KeyTooLong(name)
    entries = {key: parts[0]}
    entries.update({f"{key}{_PART}{n}": part for n, part in enumerate(parts[1:], start=2)})
    return entries


def _split(pieces: list[str], first: int) -> list[str]:
    """`pieces` joined into parts of at most METADATA_MAX_VALUE (the first: `first`)."""
    parts: list[str] = []
    current: list[str] = []
    size, limit = 0, first
    for piece in pieces:
        if size + utf16_units(piece) > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, METADATA_MAX_VALUE
        current.append(piece)
        size += utf16_units(piece)
    parts.append("".join(current))
    return parts


def _text_pieces(text: str) -> list[str]:
    return [_escaped(char) for char in text]


def _packed_pieces(name: str, text: str) -> list[str]:
    """`name:value` as packed, with ` ` and `:` escaped inside name and value."""
    return [
        *(_escaped(char, also=" :") for char in name),
        ":",
        *(_escaped(char, also=" :") for char in text),
    ]


def storable_lineage(
    lineage: Mapping[str, str],
    existing: Mapping[str, str] | None = None,
    required: Collection[str] = (),
) -> StoredLineage:
    """CustomerMetadataProperties that SageMaker accepts and read_lineage reads back as
    `lineage` (names without PREFIX; `metric:<name>` entries are metrics, the most wanted
    first). `existing` is the package's map as it is (UpdateModelPackage merges into it):
    with ours it may hold at most 50 entries. Metrics are packed, then left out, to fit;
    `required` ones (the gate's) never are: StageError when they do not fit."""
    existing = existing or {}
    fixed: dict[str, str] = {}
    for name, text in lineage.items():
        if not name.startswith(METRIC):
            fixed.update(_stored_entries(name, _text_pieces(text)))
    metrics = [(n.removeprefix(METRIC), t) for n, t in lineage.items() if n.startswith(METRIC)]
    own_keys: list[dict[str, str]] = []  # each metric's own entry, or {} if it has to be packed
    for name, text in metrics:
        try:
            entries = _stored_entries(METRIC + name, _text_pieces(text))
        except _KeyTooLong:
            entries = {}
        own_keys.append(entries if len(entries) == 1 else {})
    packed_pieces = [_packed_pieces(name, text) for name, text in metrics]

    def assembled(keyed: int, kept: int) -> dict[str, str]:
        """With the first `keyed` metrics (and any the package has a key for already: it
        is rewritten, never stale) under keys of their own, the rest of the first `kept`
        packed, the others left out."""
        properties = dict(fixed)
        packed: list[str] = []
        for index in range(kept):
            entries = own_keys[index]
            if entries and (index < keyed or next(iter(entries)) in existing):
                properties.update(entries)
            else:
                packed += [" ", *packed_pieces[index]] if packed else packed_pieces[index]
        if packed:
            properties.update(_stored_entries(MORE_METRICS, packed))
        if kept < len(metrics):
            text = f"{len(metrics) - kept} of {len(metrics)}"
            properties.update(_stored_entries(METRICS_LEFT_OUT, _text_pieces(text)))
        for key in existing:  # what an earlier run wrote and this one does not
            if key.startswith(PREFIX) and _PART not in key and key not in properties:
                properties[key] = _REMOVED
        return properties

    def fits(properties: dict[str, str]) -> bool:
        return len(properties) + len(set(existing) - set(properties)) <= METADATA_MAX_ENTRIES

    if fits(assembled(0, len(metrics))):  # all of them, at worst all packed
        for keyed in range(min(METADATA_METRIC_KEYS, len(metrics)), -1, -1):
            properties = assembled(keyed, len(metrics))
            if fits(properties):
                return StoredLineage(properties)
    # Leave out the last metrics, as few as will do; never a required one.
    low = 1 + max((i for i, (n, _) in enumerate(metrics) if METRIC + n in required), default=-1)
    if not fits(properties := assembled(0, low)):
        others = sum(not key.startswith(PREFIX) for key in existing)
        needed = len(properties) + len(set(existing) - set(properties)) - others
        raise StageError(
            "Lineage does not fit on the model package",
            f"SageMaker keeps at most {METADATA_MAX_ENTRIES} CustomerMetadataProperties on "
            f"a model package; it already has {others} of its own, and the lineage with the "
            f"gate's metrics needs {needed} (more than are left). Remove some of the "
            "package's own properties (UpdateModelPackage CustomerMetadataPropertiesToRemove), "
            "or gate on fewer metrics.",
        )
    high = len(metrics) - 1  # fits(assembled(0, low)), and not with all of them
    while low < high:
        middle = (low + high + 1) // 2
        if fits(assembled(0, middle)):
            low = middle
        else:
            high = middle - 1
    return StoredLineage(assembled(0, low), tuple(name for name, _ in metrics[low:]))


def read_lineage(properties: Mapping[str, str] | None) -> dict[str, str]:
    """The lineage storable_lineage wrote, decoded (names without PREFIX): long values joined,
    packed metrics as `metric:<name>` entries. Keys without PREFIX are not ours: left out."""
    ours = {
        k.removeprefix(PREFIX): v for k, v in (properties or {}).items() if k.startswith(PREFIX)
    }
    lineage: dict[str, str] = {}
    packed = ""
    for stored, value in ours.items():
        if _PART in stored:
            continue  # a later part of a long value
        header = _SPLIT_HEADER.match(value)
        if header and int(header[1]) == 0:
            continue  # removed
        if header:
            rest = (ours.get(f"{stored}{_PART}{n}", "") for n in range(2, int(header[1]) + 1))
            value = value[header.end() :] + "".join(rest)
        if stored == MORE_METRICS:
            packed = value
        else:
            lineage[decode_metadata_text(stored)] = decode_metadata_text(value)
    for item in packed.split(" "):
        name, colon, text = item.partition(":")
        if colon:  # a key of its own is as new as the packed value: it wins
            lineage.setdefault(METRIC + decode_metadata_text(name), decode_metadata_text(text))
    return lineage


def left_out_text(left_out: tuple[str, ...], arn: str) -> str:
    """register-and-gate's warning when metrics did not fit on the package."""
    return (
        f"{len(left_out)} metrics are not recorded on {arn}: its {METADATA_MAX_ENTRIES} "
        "metadata entries are full (the gate's metrics are): " + ", ".join(left_out)
    )
