"""The shared sidebar: every RunConfig setting as a widget, kept in the URL both ways.

One path for every change (design principle 5): link, widget or loaded bundle all end in
`_commit`, which validates the settings into the session's RunConfig (`ui.state.config()`; a
problem with the widgets' values is `ui.state.config_error()`, the last good config staying in
place). The Train page, and only it, resets a live run whose settings no longer match. An
uploaded sequence for the 'file' task is `ui.state.sequence()`.

URL parameters are the RunConfig field names (`?truncation=10&state_size=16`) plus `present=1`;
only values that differ from the defaults are written, so a default setting is simply absent.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from rnn_core.config import (
    BOUNDS,
    GRADIENTS,
    MAX_LAG,
    MAX_LAGS,
    ONLINE_STYLES,
    OPTIMIZERS,
    STYLES,
    TASKS,
    RunConfig,
    coerce,
)
from rnn_core.data import MAX_FILE_STEPS, load_sequence_csv
from rnn_core.report import RunRecord
from ui import lesson_link, state

DEFAULT = RunConfig()
PRESENT = "present"
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _always(values: dict[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Setting:
    """One RunConfig field as a widget: its label, group, kind and when it is shown."""

    name: str
    label: str
    group: str
    kind: str  # "int", "float", "choice" or "list"
    help: str
    step: float | None = None
    options: tuple[str, ...] = ()
    shown: Callable[[dict[str, Any]], bool] = _always
    slider: bool = False  # the settings a lesson tweaks most (d, n) are sliders


def _help(name: str, extra: str = "") -> str:
    default = getattr(DEFAULT, name)
    if isinstance(default, tuple):
        shown = ", ".join(str(v) for v in default)
    elif isinstance(default, int):
        shown = f"{default:,}"
    elif isinstance(default, float):
        shown = f"{default:g}"
    else:
        shown = default
    text = BOUNDS[name].help if name in BOUNDS else ""
    return " ".join(part for part in (text + ("." if text else ""), extra, f"Default (R2RT): {shown}.") if part)


def _task_is(*tasks: str) -> Callable[[dict[str, Any]], bool]:
    return lambda values: values["task"] in tasks


R2RT_RULE = "P(Y_t = 1) = 0.5 + 0.5·X_{t−3} − 0.25·X_{t−8}"
SETTINGS: tuple[Setting, ...] = (
    Setting("state_size", "State size d", "Model", "int",
            _help("state_size", "A larger state (e.g. 16) helps to learn both R2RT lags."), 1, slider=True),
    Setting("init_scale", "Initial weight scale", "Model", "float",
            _help("init_scale", "Above about 1 the recurrent matrix starts with σ_max > 1."), 0.1),
    Setting("seed", "Seed", "Model", "int", _help("seed"), 1),
    Setting("style", "Truncation style", "Truncation", "choice",
            "TensorFlow style BPTT(n; n): a graph n steps wide; each training step trains all n losses, the last "
            "one backpropagated n steps. Williams–Peng BPTT(n; k1): the window slides k1 steps at a time and only "
            "its last k1 losses are trained, each through at least n − k1 + 1 steps (k1 = 1: 'true' truncation). "
            "RTRL and UORO do not truncate: they learn online, one update per time step, with the exact (RTRL, "
            "d ≤ 32) or an unbiased rank-one (UORO) gradient through the whole history.",
            options=STYLES),
    Setting("truncation", "Window n (steps unrolled)", "Truncation", "int",
            _help("truncation", "No gradient crosses from one window into the one before."), 1, slider=True,
            shown=lambda v: v["style"] not in ONLINE_STYLES),
    Setting("k1", "k1 (steps between training steps)", "Truncation", "int", _help("k1", "At most n."), 1,
            shown=lambda v: v["style"] == "williams-peng"),
    Setting("task", "Task", "Task", "choice",
            f"r2rt: R2RT part I, {R2RT_RULE}. echo: Hallström's pure echo, Y_t = X_(t − echo step). "
            "custom: your own lags and effects. file: your own 0/1 sequence, a CSV with the header x,y.",
            options=TASKS),
    Setting("echo_step", "Echo step", "Task", "int", _help("echo_step"), 1, shown=_task_is("echo")),
    Setting("lags", "Lags L_i", "Task", "list",
            f"Comma-separated lags, 1 to {MAX_LAG}, at most {MAX_LAGS}: Y_t depends on X_(t − L_i). Default: 3, 8.",
            shown=_task_is("custom")),
    Setting("effects", "Effects e_i", "Task", "list",
            "Comma-separated effects in [−1, 1], one per lag: P(Y_t = 1) rises by e_i when X_(t − L_i) = 1. "
            "Default: 0.5, −0.25.", shown=_task_is("custom")),
    Setting("base_prob", "Base P(Y = 1)", "Task", "float", _help("base_prob"), 0.05, shown=_task_is("custom")),
    Setting("input_prob", "P(X = 1)", "Task", "float", _help("input_prob"), 0.05, shown=_task_is("echo", "custom")),
    Setting("optimizer", "Optimizer", "Optimisation", "choice",
            "Keras SGD, Adagrad or Adam. R2RT used Adagrad with learning rate 0.1.", options=OPTIMIZERS),
    Setting("learning_rate", "Learning rate", "Optimisation", "float", _help("learning_rate"), 0.01),
    Setting("clip", "Clip gradient norm at", "Optimisation", "float",
            _help("clip", "Pascanu et al.: if ‖g‖ > threshold, g ← threshold·g/‖g‖."), 0.5),
    Setting("batch_size", "Batch size B", "Optimisation", "int", _help("batch_size"), 1),
    Setting("series_length", "Series length T", "Optimisation", "int", _help("series_length"), 10_000,
            shown=lambda v: v["task"] != "file"),
    Setting("epochs", "Epochs", "Optimisation", "int", _help("epochs"), 1),
    Setting("gradient", "Gradient computed by", "Optimisation", "choice",
            "autodiff: tf.GradientTape differentiates the taught graph (model.unroll's lists; for wide windows "
            "the same cell rolled into tf.scan). derived: the same gradient by a hand-derived backward pass. "
            "Same numbers; see the Learn "
            f"page. Default: {DEFAULT.gradient}.", options=GRADIENTS,
            shown=lambda v: v["style"] not in ONLINE_STYLES),
)
BY_NAME = {s.name: s for s in SETTINGS}
GROUPS = ("Model", "Truncation", "Task", "Optimisation")
LABELS = {
    "tensorflow": "TF style BPTT(n; n)", "williams-peng": "Williams–Peng BPTT(n; k1)",
    "rtrl": "RTRL (no truncation)", "uoro": "UORO (no truncation)",
    "r2rt": "R2RT: lags 3 and 8", "echo": "Echo (Hallström)", "custom": "Custom lags", "file": "My CSV file",
    "sgd": "SGD", "adagrad": "Adagrad", "adam": "Adam",
    "autodiff": "autodiff (tf.GradientTape)", "derived": "derived by hand",
}


def widget_value(name: str, value: Any) -> Any:
    """A RunConfig value as its widget holds it (lists as '3, 8' text)."""
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) if isinstance(value, tuple) else value


def values_from_config(cfg: RunConfig) -> dict[str, Any]:
    """Widget values for every setting of a config."""
    return {s.name: widget_value(s.name, getattr(cfg, s.name)) for s in SETTINGS}


DEFAULT_VALUES = values_from_config(DEFAULT)


def url_text(name: str, value: Any) -> str:
    """How a widget value is written into the URL."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str) and BY_NAME[name].kind == "list":
        return ",".join(part.strip() for part in value.split(",") if part.strip())
    return str(value)


def _bound_text(x: float) -> str:
    """'2,147,483,647' for a whole bound, '1e-06' otherwise (':g' would print 2.14748e+09)."""
    if not float(x).is_integer():
        return f"{x:g}"
    return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))


def parse_field(name: str, raw: str) -> Any:
    """A URL value checked on its own; ValueError saying what is wrong with it."""
    value = coerce(name, raw)
    if name in BOUNDS:
        bound = BOUNDS[name]
        if value != value or not bound.low <= value <= bound.high:
            raise ValueError(f"out of range [{_bound_text(bound.low)}, {_bound_text(bound.high)}]")
    setting = BY_NAME[name]
    if setting.kind == "choice" and value not in setting.options:
        raise ValueError(f"not one of {', '.join(setting.options)}")
    if setting.kind == "list":
        if not value or len(value) > MAX_LAGS:
            raise ValueError(f"give 1 to {MAX_LAGS} comma-separated values")
        low, high = (1, MAX_LAG) if name == "lags" else (-1.0, 1.0)
        for item in value:
            if item != item or not low <= item <= high:
                raise ValueError(f"{item!r} is out of range [{low:g}, {high:g}]")
        if name == "lags" and len(set(value)) != len(value):
            raise ValueError("lags must be distinct")
    return widget_value(name, value)


def config_from_values(values: dict[str, Any]) -> RunConfig:
    """Validate widget values into a RunConfig (ValueError naming the setting otherwise)."""
    return RunConfig.from_dict(dict(values))


def read_url(params: dict[str, str]) -> tuple[dict[str, Any], bool, list[str]]:
    """Settings from URL parameters: (widget values, presentation mode, warnings for what was refused)."""
    values, warnings = dict(DEFAULT_VALUES), []
    accepted: dict[str, Any] = {}
    for s in SETTINGS:
        if s.name not in params:
            continue
        raw = params[s.name]
        try:
            accepted[s.name] = parse_field(s.name, raw)
        except ValueError as exc:
            warnings.append(_refused(s.name, raw, str(exc)))
    try:
        config_from_values({**values, **accepted})
        values.update(accepted)
    except ValueError:
        for name, value in accepted.items():
            trial = {**values, name: value}
            try:
                config_from_values(trial)
                values = trial
            except ValueError as exc:
                warnings.append(_refused(name, params[name], str(exc)))
    present = False
    if PRESENT in params:
        word = str(params[PRESENT]).strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            present = word in TRUE_WORDS
        else:
            warnings.append(_refused(PRESENT, params[PRESENT], "expected 1 or 0", "off"))
    return values, present, warnings


def _refused(name: str, raw: str, why: str, default: Any = None) -> str:
    shown = default if default is not None else url_text(name, DEFAULT_VALUES[name])
    return f"The link's setting `{name}={raw}` was ignored ({why}); using the default, `{shown}`."


def url_params(values: dict[str, Any], present: bool) -> dict[str, str]:
    """The URL parameters for these settings: only those that differ from the defaults."""
    out = {name: url_text(name, v) for name, v in values.items()
           if url_text(name, v) != url_text(name, DEFAULT_VALUES[name])}
    if present:
        out[PRESENT] = "1"
    return out


NAMES = tuple(s.name for s in SETTINGS)
OWN_PARAMS = NAMES + (PRESENT,)


def _wkey(name: str) -> str:
    return f"w_{name}"


# The sidebar's own memories in the session (through ui.state): the values it last committed, what it
# last wrote into the URL, link settings it refused, a bundle waiting to be shown, its last load error.
VALUES, URL_WRITTEN, URL_WARNINGS, BUNDLE_PENDING, BUNDLE_ERROR = (
    "settings", "_url_written", "url_warnings", "bundle_pending", "bundle_error")
PRESENT_APPLIED = "_present_applied"


def _set_widgets(values: dict[str, Any], present: bool) -> None:
    state.set_memo(VALUES, dict(values))
    state.set_present(present)
    state.set_widgets({**{_wkey(name): value for name, value in values.items()}, _wkey(PRESENT): present})


def _sync_from_url() -> bool:
    """Take the settings from the URL on a session's first run, or when the URL was changed from outside."""
    current = {k: st.query_params[k] for k in OWN_PARAMS if k in st.query_params}
    written = state.memo(URL_WRITTEN)
    if written is not None and (current == written or not current):
        return False  # our own writes, or a page switch that dropped the query string: the widgets lead
    values, present, warnings = read_url(current)
    _set_widgets(values, present)
    state.set_memo(URL_WARNINGS, warnings)
    return True


def _write_url(values: dict[str, Any], present: bool) -> None:
    wanted = url_params(values, present)
    for name in OWN_PARAMS:
        if name in wanted and st.query_params.get(name) != wanted[name]:
            st.query_params[name] = wanted[name]
        elif name not in wanted and name in st.query_params:
            del st.query_params[name]
    state.set_memo(URL_WRITTEN, wanted)


def apply_config(cfg: RunConfig) -> None:
    """Put a config into the sidebar's widgets from a callback (a lesson step's settings); the sidebar commits it."""
    _set_widgets(values_from_config(cfg), state.present())


def _on_csv() -> None:
    upload = state.widget("w_csv")
    if upload is None:
        state.set_sequence(None)
        return
    try:
        state.set_sequence(load_sequence_csv(upload.getvalue()), upload.name)
    except ValueError as exc:
        state.set_sequence(None, error=f"{upload.name}: {exc}")


def _on_bundle() -> None:
    upload = state.widget("w_bundle")
    state.forget(BUNDLE_ERROR)
    if upload is None:
        return
    try:
        record = RunRecord.from_json(upload.getvalue())
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        state.set_memo(BUNDLE_ERROR, f"Could not load {upload.name}: {exc}")
        return
    _set_widgets(values_from_config(record.config), state.present())
    state.set_memo(BUNDLE_PENDING, record)


def _on_present() -> None:
    state.set_present(bool(state.widget(_wkey(PRESENT))))


def _picked(name: str) -> None:
    """on_change of a setting's widget: the session's settings take the new value before the script runs, so
    this run draws every widget with its current value as its default (`_widget`)."""
    values = dict(state.memo(VALUES) or DEFAULT_VALUES)
    values[name] = state.widget(_wkey(name))
    state.set_memo(VALUES, values)


def _widget(s: Setting, values: dict[str, Any]) -> Any:
    """Draw one setting. Each widget is also given the value it should show as its default: a widget the browser
    mounts only after a later script run's message (a click that came before the sidebar was drawn, see
    `begin`) starts from that message's default, which must be the setting's value, not the widget's minimum."""
    key, value = _wkey(s.name), values[s.name]
    if not state.has_widget(key):
        state.set_widgets({key: value})
    changed = {"on_change": _picked, "args": (s.name,), "key": key, "help": s.help}
    if s.kind == "choice":
        return st.selectbox(s.label, s.options, index=s.options.index(value), format_func=lambda v: LABELS.get(v, v),
                            **changed)
    if s.kind == "list":
        return st.text_input(s.label, value=value, **changed)
    bound = BOUNDS[s.name]
    if s.kind == "int" and s.slider:
        return _slider_and_box(s, int(bound.low), int(bound.high), value)
    if s.kind == "int":
        return st.number_input(s.label, int(bound.low), int(bound.high), value=value, step=int(s.step or 1),
                               **changed)
    return st.number_input(s.label, float(bound.low), float(bound.high), value=value, step=float(s.step or 0.1),
                           format="%g", **changed)


def _typed(name: str) -> None:
    """on_change of a slider's number box: move the slider to the typed value."""
    key = _wkey(name)
    state.set_widgets({key: state.widget(f"{key}_typed")})
    _picked(name)


def _slider_and_box(s: Setting, low: int, high: int, shown: int) -> int:
    """A slider for dragging and, beside it, a box to type the value: over 1-256 a pixel is more than a unit,
    so lesson values such as 4, 5, 10 and 16 are quicker typed than dragged to."""
    key = _wkey(s.name)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    with left:
        value = st.slider(s.label, low, high, value=shown, step=int(s.step or 1), key=key, help=s.help,
                          on_change=_picked, args=(s.name,))
    box = f"{key}_typed"
    if state.widget(box) != value:
        state.set_widgets({box: value})  # the box is drawn after the slider, so it may still be set this run
    with right:
        st.number_input(f"type {s.label}", low, high, value=value, step=1, key=box, on_change=_typed,
                        args=(s.name,), label_visibility="collapsed", help=f"Type {s.label} and press Enter.")
    return value


def _csv_uploader() -> None:
    st.file_uploader(f"Sequence CSV (header x,y; one 0/1 pair per line; at most {MAX_FILE_STEPS:,} rows)",
                     type=["csv", "txt"], key="w_csv",
                     on_change=_on_csv, help="Your own sequence for the 'file' task: the first line is x,y, then one "
                     "0/1 pair per line. It is cut into B rows like a generated series.")
    uploaded = state.sequence()
    if state.sequence_error():
        st.error(state.sequence_error())
    elif uploaded is not None:
        st.caption(f"Using {state.sequence_name()}: {len(uploaded[0]):,} steps.")
    else:
        st.info("Upload a CSV to train on your own sequence.")


def _commit(values: dict[str, Any], from_url: bool) -> bool:
    """Validate the widget values into the session's config (the Train page resets a run made with other ones);
    whether they were valid (invalid ones are kept out of the URL)."""
    try:
        cfg = config_from_values(values)
    except ValueError as exc:
        state.set_config_error(str(exc))
        if not state.has_config():
            state.set_config(DEFAULT)
        return False
    needs_file = cfg.task == "file" and state.sequence() is None
    state.set_config_error("task 'file' needs a sequence: upload a CSV under Task" if needs_file else "")
    if not state.has_config() or cfg != state.config():
        if not from_url:
            state.forget(URL_WARNINGS)  # the user has moved on from the link
        state.set_config(cfg)
    return True


def present_css() -> str:
    """CSS that enlarges text for a projector."""
    return """<style>
    html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
    [data-testid="stMarkdownContainer"] p, [data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
    [data-testid="stWidgetLabel"] p, button p { font-size: 1.25rem !important; }
    h1 { font-size: 2.4rem !important; } h2, h3 { font-size: 2.2rem !important; }
    </style>"""


FROM_URL = "_settings_from_url"


def begin() -> None:
    """First in every script run: take the settings (and the lesson link) from the URL when it is new.

    Then either `draw` and `settle` (every later run: the widgets' values are read, then committed), or, in a
    session's first script run, `settle` before the page and `draw` once the Train page has shown its buttons
    (ui/page_first.py): the browser enables Train sooner when the sidebar's widgets are not ahead of it. A
    click that comes before the browser has mounted the sidebar finds the right values: the server keeps them,
    and every widget's default is its value (`_widget`)."""
    if state.memo(VALUES) is None:
        state.set_memo(VALUES, dict(DEFAULT_VALUES))
    state.set_memo(FROM_URL, _sync_from_url())
    lesson_link.sync(NAMES)


def draw(box: Any = None) -> None:
    """The sidebar's widgets (into `box`, a container in the sidebar, if given): read their values into the
    session's settings, and show what is wrong with them there."""
    values: dict[str, Any] = state.memo(VALUES)
    link = lesson_link.current()
    with box if box is not None else st.sidebar:
        if not state.has_widget(_wkey(PRESENT)):
            state.set_widgets({_wkey(PRESENT): state.present()})
        present = st.toggle("Presentation mode", value=state.present(), key=_wkey(PRESENT), on_change=_on_present,
                            help="For the projector: larger text, settings folded away, charts full width.")
        state.set_present(present)
        lesson_link.explain_toggle()
        for group in GROUPS:
            shown = [s for s in SETTINGS if s.group == group and s.shown(values) and not link.hides(s.name)]
            if not shown:
                continue  # a lesson link hid the whole group; its settings keep the link's values
            with st.expander(group, expanded=not present):
                for s in shown:
                    values[s.name] = _widget(s, values)
                if group == "Task" and values["task"] == "file" and not link.hides("task"):
                    _csv_uploader()
        if link.hide_all:
            st.caption("This lesson link hides the settings; the run uses the link's values.")
        valid = _commit(values, state.memo(FROM_URL, False))
        if state.config_error() and not valid:  # a valid set's only error, the missing file, the uploader says
            st.error(f"Settings not applied: {state.config_error()}")
        if not link.hide_all:
            lesson_link.panel(url_params(values, present), NAMES, {s.name: s.label for s in SETTINGS})
        with st.expander("Load a run (JSON bundle)", expanded=False):
            st.file_uploader("Run bundle", type=["json"], key="w_bundle", on_change=_on_bundle,
                             help="A JSON bundle downloaded from the Train page (or written by the command line). "
                             "Loading it restores the run's settings and charts.")
            if state.memo(BUNDLE_ERROR):
                st.error(state.memo(BUNDLE_ERROR))


def settle() -> RunConfig:
    """Commit the settings into the session's config and show, above the page, what a link asked for that was
    refused; keep the URL in step. Returns the current validated RunConfig."""
    values: dict[str, Any] = state.memo(VALUES)
    present = state.present()
    if present != state.memo(PRESENT_APPLIED):
        st.set_page_config(initial_sidebar_state="collapsed" if present else "expanded")
        state.set_memo(PRESENT_APPLIED, present)
    valid = _commit(values, state.memo(FROM_URL, False))
    record = state.forget(BUNDLE_PENDING)
    if record is not None:
        state.show_loaded(state.add_run(record))
    if present:
        st.markdown(present_css(), unsafe_allow_html=True)
    for warning in state.memo(URL_WARNINGS, []) + lesson_link.warnings():
        st.warning(warning, icon="⚠️")
    if valid:  # a link never carries settings the app refuses
        _write_url(values, present)
    lesson_link.write_url()
    return state.config()

