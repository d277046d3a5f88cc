"""Altair charts as Vega-Lite dicts for `st.vega_lite_chart`, built once and without Altair's schema check.

Building is made cheap first: every shorthand like `"step:Q"` in `encode` makes Altair 6 build a fresh
table of the schema hashes of all its ~570 wrapper classes (`_FromDict.__init__`, a `json.dumps` per
class, about 80 % of building a Train page's charts); `cache_altair_class_table()` computes that table
once per process and shares it (the classes and their schemas are fixed once Altair is imported).

`st.altair_chart` calls `chart.to_dict()`, which validates the whole spec against Vega-Lite's JSON
schema on every draw (most of a Train click's chart CPU). The charts here are built by our own
builders (viz/) and tested, so `spec` converts with `to_dict(validate=False)`, collecting each data
frame as Arrow bytes under a content hash, as Streamlit's own conversion does, so the element the
browser receives is the one `st.altair_chart` would send. Altair's `to_dict` starts with a shallow copy of
the chart, which for a layered chart reruns `LayerChart.__init__` and so deep-copies every layer again
(a third of converting a Train page's charts); `spec` converts a layered chart through a subclass whose
shallow copy only copies the top level, as a shallow copy of any other chart does.

Altair's `_todict` asks of every value, down to each string and number in the spec, whether it is an
instance of a runtime-checkable Protocol (`SchemaLike`), which `inspect.getattr_static` answers slowly:
with thirty sessions it was a tenth of the time the server held the GIL (py-spy --gil). `fast_plain_values`
returns plain str / int / float / bool / None as they are and walks plain dicts and lists itself before
handing anything else to Altair's own function: what Altair returns for those, without the questions.

Building a layered chart, `LayerChart.__init__` deep-copies every layer twice to lift and de-duplicate
selection parameters (`_remove_duplicate_params`, `_combine_subchart_params`), and `.properties()` on it
runs `__init__` again: half of building a Train page's charts. `uncopied_plain_layers` skips those two
steps when no layer has parameters and none is itself a compound chart, where they change nothing but the
copies (the later steps that edit a layer copy it first); other layers take Altair's own path.

Altair's debug mode (on by default) validates every schema object against its JSON schema as it is built,
a second check of the same charts before `spec` leaves the whole one out: `no_validation_while_building`
turns it off for the process, once, so the Train page's exact-gradient and pickable charts are built as cheaply
as its board's (about 2 ms a run for the cosine and flow charts alone). `chart.to_dict()` still validates in
full where it is asked to (the viz tests do).

One difference from Streamlit's conversion: a pandas frame of plain number and text columns becomes an
Arrow table column by column (`arrow_table`), without pandas' own Arrow conversion (a tenth of a busy
server's CPU at 30 students) and without the frame's index, which no chart reads. The datasets' columns
and values are the same.
"""
from __future__ import annotations

import threading
from typing import Any

import altair as alt
import pandas as pd
import pyarrow as pa
from altair.utils import schemapi
from altair.vegalite.v6 import api as alt_api
from streamlit.elements import vega_charts

from viz.common import top_level_copy

_LOCK = getattr(vega_charts, "_altair_globals_lock", threading.Lock())  # Altair's transformers are global
_TRANSFORMER = "truncation_arrow"
_BUILD_TABLE = schemapi._FromDict.__init__  # Altair's own


def _listed_once(list_classes):
    found: dict[type, tuple] = {}

    def wrapper_classes(cls):
        if cls not in found:
            found[cls] = tuple(list_classes(cls))
        return iter(found[cls])

    return wrapper_classes


def cache_altair_class_table() -> bool:
    """Make Altair's `_FromDict` reuse one schema-hash table per set of wrapper classes (idempotent).

    False, leaving Altair as it is, if its internals changed shape.
    """
    from_dict = getattr(schemapi, "_FromDict", None)
    if from_dict is None or not hasattr(from_dict, "hash_schema"):
        return False
    if getattr(from_dict.__init__, "_cached", False):
        return True
    tables: dict[tuple, Any] = {}

    def init(self, wrapper_classes, /) -> None:
        classes = tuple(wrapper_classes)
        table = tables.get(classes)
        if table is None:
            _BUILD_TABLE(self, classes)
            tables[classes] = self.class_dict
        else:
            self.class_dict = table

    init._cached = True  # type: ignore[attr-defined]
    from_dict.__init__ = init
    from altair.vegalite.v6.schema import core

    for owner in (schemapi.SchemaBase, core.VegaLiteSchema):  # each lists its wrapper classes anew per call
        listed = owner.__dict__.get("_default_wrapper_classes")
        if isinstance(listed, classmethod):
            owner._default_wrapper_classes = classmethod(_listed_once(listed.__func__))
    return True


cache_altair_class_table()

_PLAIN = (str, int, float, bool, type(None))  # exact types: numpy scalars and other subclasses go to Altair
_ALTAIR_TODICT = schemapi._todict


def _plain_first(obj: Any, context: Any, np_opt: Any, pd_opt: Any) -> Any:
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is dict:
        return {k: _plain_first(v, context, np_opt, pd_opt) for k, v in obj.items() if v is not schemapi.Undefined}
    if kind is list:
        return [_plain_first(v, context, np_opt, pd_opt) for v in obj]
    return _ALTAIR_TODICT(obj, context, np_opt, pd_opt)


def fast_plain_values() -> bool:
    """Make Altair's `_todict` return plain values and walk plain dicts and lists without its Protocol checks
    (idempotent). False, leaving Altair as it is, if its internals changed shape."""
    if not callable(getattr(schemapi, "_todict", None)) or not hasattr(schemapi, "Undefined"):
        return False
    schemapi._todict = _plain_first  # Altair's recursion looks `_todict` up in its module: it comes back here
    return True


fast_plain_values()

_REMOVE_DUPLICATE_PARAMS = getattr(alt_api, "_remove_duplicate_params", None)
_COMBINE_SUBCHART_PARAMS = getattr(alt_api, "_combine_subchart_params", None)


def _plain_layers(subcharts: Any) -> bool:
    """Every layer a unit chart (alt.Chart) without selection parameters."""
    return all(type(c) is alt.Chart and schemapi.Undefined is c._kwds.get("params", schemapi.Undefined)
               for c in subcharts)


def _remove_duplicate_params(layer: list) -> list:
    return list(layer) if _plain_layers(layer) else _REMOVE_DUPLICATE_PARAMS(layer)


def _combine_subchart_params(params: Any, subcharts: list) -> tuple[Any, list]:
    if (params is schemapi.Undefined or params == []) and _plain_layers(subcharts):
        return schemapi.Undefined, list(subcharts)  # what Altair returns there, but for the copies
    return _COMBINE_SUBCHART_PARAMS(params, subcharts)


def uncopied_plain_layers() -> bool:
    """Make `LayerChart.__init__` skip its parameter lifting's deep copies for layers without parameters
    (idempotent). False, leaving Altair as it is, if its internals changed shape."""
    if _REMOVE_DUPLICATE_PARAMS is None or _COMBINE_SUBCHART_PARAMS is None:
        return False
    alt_api._remove_duplicate_params = _remove_duplicate_params
    alt_api._combine_subchart_params = _combine_subchart_params
    return True


uncopied_plain_layers()


def no_validation_while_building() -> None:
    """Turn off Altair's debug mode, its schema check of every object as it is built, for the process (idempotent;
    one switch, not a context that threads drawing at once would toggle under each other)."""
    schemapi.disable_debug_mode()


no_validation_while_building()


def arrow_table(frame: pd.DataFrame) -> pa.Table | None:
    """The frame's columns as an Arrow table (numbers as they are, text as strings), or None for a frame with
    any other kind of column (dates, categories, mixed objects), which is left to Streamlit's conversion."""
    if isinstance(frame.columns, pd.MultiIndex) or not len(frame.columns):
        return None
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "biuf":
            columns[str(name)] = pa.array(column.to_numpy(), from_pandas=True)  # NaN as null, as pandas converts it
            continue
        if column.dtype.kind not in "OUT":  # pandas' str dtype is kind "O" or "T"; dates, categories are not
            return None
        try:  # pandas' Arrow-backed strings hand over their Arrow array as it is; objects are checked by pyarrow
            values = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)) or values.null_count:
            return None  # numbers as objects, missing values: Streamlit's conversion decides
        columns[str(name)] = values.cast(pa.string())
    return pa.table(columns)


def _to_arrow(data: Any, datasets: dict[str, Any]) -> dict[str, str]:
    table = arrow_table(data) if isinstance(data, pd.DataFrame) else None
    if table is not None:
        data = table
    return vega_charts._to_arrow_dataset(data, datasets)


alt.data_transformers.register(_TRANSFORMER, _to_arrow)
# Streamlit registers its own transformer outside its lock, just before enabling it under the lock; leaving
# our `enable(...)` block restores the registry as it was when the block began, which could drop that
# registration when it happened meanwhile (a class of sessions hit "No 'to_arrow_dataset' entry point").
# Registered here, it is in every state our block restores.
_STREAMLIT_TRANSFORMER = "to_arrow_dataset"
alt.data_transformers.register(_STREAMLIT_TRANSFORMER, vega_charts._to_arrow_dataset)


class _LayerShallowCopy(alt.LayerChart):
    """A LayerChart already built by `LayerChart.__init__`, whose shallow copy does not build it again."""

    def copy(self, deep: Any = True, ignore: list[str] | None = None) -> Any:
        if deep is False:
            return top_level_copy(self)
        return super().copy(deep=deep, ignore=ignore)


def spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's Vega-Lite spec with its data as named Arrow datasets, unvalidated."""
    if type(chart) is alt.LayerChart:
        chart = top_level_copy(chart, _LayerShallowCopy)
    datasets: dict[str, Any] = {}
    with _LOCK:
        theme = alt.theme.enable("none") if alt.theme.active == "default" else None
        try:
            with alt.data_transformers.enable(_TRANSFORMER, datasets=datasets):
                out = chart.to_dict(validate=False)
        finally:
            if theme is not None:
                alt.theme.enable("default")
            alt.data_transformers.register(_STREAMLIT_TRANSFORMER, vega_charts._to_arrow_dataset)
    out["datasets"] = {**out.get("datasets", {}), **datasets}
    return out
