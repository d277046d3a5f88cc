"""Just enough of the run-bundle format to store and check bundles without importing the engine.

The bundle is what rnn_core.report.RunRecord.to_json writes; its "format" field names the layout
version ("truncation-explorer-run/1"). The store keeps the JSON text as given and records the version,
so a bundle from a newer or older app is recognised before anyone parses its history.
"""
from __future__ import annotations

import json
from typing import Any

from .errors import BadBundle, CorruptRun, IncompatibleRun

FORMAT_PREFIX = "truncation-explorer-run/"
CURRENT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
LABEL_CHARS = 200
_REQUIRED = ("config", "history", "summary")


def format_version(data: dict[str, Any]) -> int:
    """The layout version a bundle declares; a bundle without "format" predates the field and is version 1."""
    fmt = data.get("format", FORMAT_PREFIX + "1")
    if not isinstance(fmt, str) or not fmt.startswith(FORMAT_PREFIX):
        raise BadBundle(f"run bundle: 'format' must look like '{FORMAT_PREFIX}N', got {fmt!r}")
    try:
        return int(fmt[len(FORMAT_PREFIX):])
    except ValueError:
        raise BadBundle(f"run bundle: 'format' must end in a version number, got {fmt!r}") from None


def prepare(bundle: dict[str, Any] | str | bytes) -> tuple[str, int, str]:
    """Check a bundle offered for saving; return (JSON text, format version, label)."""
    if isinstance(bundle, (str, bytes)):
        try:
            text = bundle.decode("utf-8", "strict") if isinstance(bundle, bytes) else bundle
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadBundle(f"run bundle is not valid JSON ({exc})") from None
    else:
        data = bundle
        try:
            text = json.dumps(data, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BadBundle(f"run bundle cannot be written as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadBundle("run bundle must be a JSON object with config, history and summary")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise BadBundle(f"run bundle lacks {', '.join(repr(k) for k in missing)}")
    version = format_version(data)
    if version not in SUPPORTED_VERSIONS:
        raise IncompatibleRun(version_message(version))
    label = data.get("label")
    label = label[:LABEL_CHARS] if isinstance(label, str) else ""
    return text, version, label


def parse_stored(text: str, version: int, what: str) -> dict[str, Any]:
    """Read a stored row's JSON back; CorruptRun or IncompatibleRun naming `what` (e.g. "run 12 'TF n=5'")."""
    if version not in SUPPORTED_VERSIONS:
        raise IncompatibleRun(f"{what}: {version_message(version)}")
    try:
        data = json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise CorruptRun(f"{what} is damaged in the store (not valid JSON: {exc})") from None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
        raise CorruptRun(f"{what} is damaged in the store (not a run bundle with config, history and summary)")
    return data


def version_message(version: int) -> str:
    """Why a bundle of this layout version cannot be used by this app."""
    newer = "a newer" if version > CURRENT_VERSION else "an older"
    ok = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
    return f"saved by {newer} version of the app (bundle format {version}; this app reads format {ok})"
