"""Lesson links: `hide=` folds chosen sidebar controls away, `note=` puts a teacher's text atop the Train
page, `explain=1` shows a "what am I looking at" line under every chart; and the panel that writes such a link.

    ?hide=state_size,truncation&note=Watch%20the%20loss&explain=1
    ?hide=all                      every setting folded away (their URL values still apply)

Like the settings (ui/settings.py), these parameters are read on a session's first run or when the
URL is changed from outside, refused values are named in a warning, and they are written back after a
page switch drops the query string. The note is shown with `st.text`, which parses neither Markdown
nor HTML, and is cut at MAX_NOTE characters.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from ui import state

HIDE, NOTE, EXPLAIN = "hide", "note", "explain"
LINK_PARAMS = (HIDE, NOTE, EXPLAIN)
ALL = "all"
MAX_NOTE = 400  # a short instruction, not an article
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
LINK, LINK_WRITTEN, LINK_WARNINGS = "lesson_link", "_lesson_link_written", "lesson_link_warnings"
EXPLAIN_KEY = "w_explain"


@dataclass(frozen=True)
class Link:
    """What a lesson link asks for: settings to hide (all of them with `hide_all`), a note, explanations."""

    hidden: tuple[str, ...] = ()
    hide_all: bool = False
    note: str = ""
    explain: bool = False

    def hides(self, name: str) -> bool:
        return self.hide_all or name in self.hidden

    def params(self) -> dict[str, str]:
        """The URL parameters that say this (none for the defaults)."""
        out: dict[str, str] = {}
        if self.hide_all:
            out[HIDE] = ALL
        elif self.hidden:
            out[HIDE] = ",".join(self.hidden)
        if self.note:
            out[NOTE] = self.note
        if self.explain:
            out[EXPLAIN] = "1"
        return out


def _clean_note(raw: str) -> str:
    """The note as one-paragraph plain text: control characters dropped, whitespace runs kept as typed."""
    return "".join(ch for ch in raw if ch == "\n" or ch.isprintable()).strip()


def read_link(params: dict[str, str], names: tuple[str, ...]) -> tuple[Link, list[str]]:
    """A lesson link's parameters checked against the setting `names`: (what it asks for, warnings)."""
    warnings: list[str] = []
    hidden: list[str] = []
    hide_all = False
    if HIDE in params:
        asked = [part.strip().lower() for part in str(params[HIDE]).split(",") if part.strip()]
        unknown = [a for a in asked if a != ALL and a not in names]
        hide_all = ALL in asked
        hidden = [name for name in names if name in asked]  # in the sidebar's order, each once
        if unknown:
            warnings.append(
                f"The link's `hide=` named {len(unknown)} unknown setting{'s' if len(unknown) > 1 else ''} "
                f"({', '.join(f'`{u}`' for u in unknown[:8])}{', …' if len(unknown) > 8 else ''}); ignored. "
                f"Settings that can be hidden: {', '.join(names)}, or `all`.")
        if not asked:
            warnings.append("The link's `hide=` was empty; no setting is hidden.")
    note = ""
    if NOTE in params:
        note = _clean_note(str(params[NOTE]))
        if len(note) > MAX_NOTE:
            warnings.append(f"The link's note is {len(note):,} characters long; only the first {MAX_NOTE} are shown.")
            note = note[:MAX_NOTE].rstrip() + " …"
    explain = False
    if EXPLAIN in params:
        word = str(params[EXPLAIN]).strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            explain = word in TRUE_WORDS
        else:
            warnings.append(f"The link's setting `explain={params[EXPLAIN]}` was ignored (expected 1 or 0); "
                            "using the default, `off`.")
    return Link(tuple(hidden), hide_all, note, explain), warnings


def current() -> Link:
    """This session's lesson link (the defaults before `sync` has run)."""
    return state.memo(LINK) or Link()


def explaining() -> bool:
    """Whether the charts' "what am I looking at" lines are shown (never outside a session's script run, e.g.
    for the server's warm-up, which has no session to ask)."""
    return get_script_run_ctx(suppress_warning=True) is not None and current().explain


def sync(names: tuple[str, ...]) -> Link:
    """Take the lesson parameters from the URL on a session's first run or when the URL changed from outside."""
    found = {k: st.query_params[k] for k in LINK_PARAMS if k in st.query_params}
    written = state.memo(LINK_WRITTEN)
    if written is None or (found and found != written):
        link, warnings = read_link(found, names)
        state.set_memo(LINK, link)
        state.set_memo(LINK_WARNINGS, warnings)
        state.set_widgets({EXPLAIN_KEY: link.explain})
    return current()


def write_url() -> None:
    """Put the session's lesson parameters into the URL (again, after a page switch dropped them)."""
    wanted = current().params()
    for name in LINK_PARAMS:
        if name in wanted and st.query_params.get(name) != wanted[name]:
            st.query_params[name] = wanted[name]
        elif name not in wanted and name in st.query_params:
            del st.query_params[name]
    state.set_memo(LINK_WRITTEN, wanted)


def _on_explain() -> None:
    link = current()
    state.set_memo(LINK, Link(link.hidden, link.hide_all, link.note, bool(state.widget(EXPLAIN_KEY))))


def explain_toggle() -> None:
    """The one switch for every chart's "what am I looking at" line (kept in the URL as explain=1)."""
    if not state.has_widget(EXPLAIN_KEY):
        state.set_widgets({EXPLAIN_KEY: current().explain})
    st.toggle("Explain the charts", value=current().explain, key=EXPLAIN_KEY, on_change=_on_explain,
              help="Show under every chart one line saying what it shows and how to read it.")


def warnings() -> list[str]:
    """What the link asked for that was refused."""
    return list(state.memo(LINK_WARNINGS, []))


def show_note() -> None:
    """The teacher's note, atop the Train page, as plain text (st.text parses neither Markdown nor HTML)."""
    note = current().note
    if note:
        with st.container(border=True):
            st.caption("Note from your teacher")
            st.text(note)


def lesson_url(base: str, settings_params: dict[str, str], link: Link) -> str:
    """The full link: the page address, the settings that differ from the defaults, then the lesson's parameters."""
    query = urllib.parse.urlencode({**settings_params, **link.params()}, quote_via=urllib.parse.quote)
    return f"{base}?{query}" if query else base


def app_base() -> str:
    """The app's address (its Train page) as the browser sees it; a relative '/' if Streamlit cannot tell."""
    url = st.context.url or ""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}/"
    return "/"


def panel(settings_params: dict[str, str], names: tuple[str, ...], labels: dict[str, str]) -> str:
    """The "Make a lesson link" panel: tick the controls to hide, write a note, copy the link; returns the link."""
    with st.expander("Make a lesson link", expanded=False, icon=":material/link:"):
        st.caption("The link opens the Train page with the settings above, these controls hidden and your note "
                   "on top.")
        hide_all = st.checkbox("Hide every setting", key="w_link_hide_all")
        hidden: list[Any] = []
        if not hide_all:
            hidden = st.multiselect("Controls to hide", names, format_func=lambda n: labels.get(n, n),
                                    key="w_link_hidden")
        note = st.text_area("Note for the students (plain text)", key="w_link_note", max_chars=MAX_NOTE,
                            placeholder="e.g. Predict first: will n = 5 learn the lag-8 dependency?")
        explain = st.checkbox("Open with the charts explained", key="w_link_explain")
        url = lesson_url(app_base(), settings_params,
                         Link(tuple(n for n in names if n in hidden), hide_all, _clean_note(note or ""), explain))
        st.code(url, language=None, wrap_lines=True)
        st.caption("Copy it with the button at the code block's top right.")
    return url
