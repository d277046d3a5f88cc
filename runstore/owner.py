"""Owner ids: unguessable tokens that name whose runs are whose; anything else names nobody."""
from __future__ import annotations

import re
import secrets

# secrets.token_urlsafe(24) gives 32 URL-safe characters (192 random bits); longer tokens are accepted
# so a later version may use more bytes without orphaning the stored runs.
_OWNER = re.compile(r"[A-Za-z0-9_-]{32,64}")


def new_owner_id() -> str:
    """A fresh owner id for a browser that has none."""
    return secrets.token_urlsafe(24)


def is_owner_id(value: object) -> bool:
    """True for a syntactically valid owner id; never raises, whatever `value` is."""
    return isinstance(value, str) and _OWNER.fullmatch(value) is not None
