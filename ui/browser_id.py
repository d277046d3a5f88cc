"""This browser's run-store id: a random token kept in the browser's localStorage, never in the URL.

A components-v2 element (JavaScript only, no HTML) runs in the app page, so its localStorage is the
app origin's: the same for every replica behind one host name. On its first run in a page it reads
the token (or makes one with crypto.getRandomValues and saves it) and sends it to Python once as the
component state "owner"; that costs one extra script run per page load. Until it has answered (the
first script run of a session), or when the browser blocks storage, browser_id() returns None and
the page keeps runs in the session only.
"""
from __future__ import annotations

import streamlit as st

STORAGE_KEY = "truncation-explorer.owner"

_JS = r"""
let sent = null;  // module scope: one report per page load, whatever the reruns
const OK = /^[A-Za-z0-9_-]{32,64}$/;

function fresh() {
  const bytes = crypto.getRandomValues(new Uint8Array(24));  // 192 bits, like secrets.token_urlsafe(24)
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export default function (component) {
  const { data, setStateValue } = component;
  let id;
  try {
    id = window.localStorage.getItem(data.key);
    if (data.renew || !OK.test(id || "")) {
      id = fresh();
      window.localStorage.setItem(data.key, id);
    }
  } catch (err) {
    id = "unavailable";  // storage blocked (privacy settings): Python sees no valid id
  }
  if (id !== sent) {
    sent = id;
    setStateValue("owner", id);
  }
}
"""

_component = st.components.v2.component("truncation_explorer_browser_id", js=_JS)


def browser_id(key: str = "browser_id", renew: bool = False) -> str | None:
    """The owner id this browser keeps, or None until the browser has answered or when it keeps no storage.

    renew=True makes the browser replace its token (after "Forget my runs", so old links to it vanish).
    """
    result = _component(key=key, data={"key": STORAGE_KEY, "renew": bool(renew)}, default={"owner": None},
                        on_owner_change=_ignore)
    owner = result.get("owner")
    if owner is None:
        return None  # the first script runs: no answer yet (and no run store, SQLAlchemy, to import for it)
    from runstore import is_owner_id

    return owner if is_owner_id(owner) else None


def _ignore() -> None:
    """The id arrives as component state; the rerun it causes is all the page needs."""
