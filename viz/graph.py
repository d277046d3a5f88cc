"""Graphviz DOT source of the seed's graphs, drawn by the truncation rule of `truncation.py`.

one_step_dot    G(X_t, S_{t-1}) -> (P_t, S_t), the graph one time step wide
unrolled_dot    the graph n steps wide, the trained losses marked and one loss's backward reach traced

Window positions run 0..n-1; which losses are trained and which state is carried come from
`truncation.loss_reach` and `truncation.carried_position`.
"""
from __future__ import annotations

from rnn_core.truncation import carried_position, loss_reach

TRAINED = "#d9480f"
REACHED = "#1f5fa8"
IDLE = "#adb5bd"


SUBSCRIPT = str.maketrans("0123456789-+t", "₀₁₂₃₄₅₆₇₈₉₋₊ₜ")


def subscript(name: str, index: int | str) -> str:
    """'S', -1 -> 'S₋₁': Unicode subscripts render in DOT labels and plain text alike."""
    return name + str(index).translate(SUBSCRIPT)


def _label(name: str, index: str, note: str = "") -> str:
    """A quoted DOT label such as "S₋₁", with an optional second line."""
    text = subscript(name, index)
    return f'"{text}\\n{note}"' if note else f'"{text}"'


def one_step_dot() -> str:
    """The one-step graph: the state comes in as a plain input, so no error flows back past it."""
    return "\n".join([
        "digraph G {",
        '  rankdir=BT; nodesep=0.6; ranksep=0.3; node [fontname="Helvetica", fontsize=12]; '
        'edge [fontname="Helvetica"];',
        '  label="one run of G: only the solid part is differentiated"; labelloc=t; fontname="Helvetica"; fontsize=11;',
        f'  prev [label={_label("S", "t-1", "from the last run")}, shape=ellipse, style=dashed, color="{IDLE}", '
        'fontsize=10, margin="0.15,0.1"];',  # room for the subscript line: browsers' fallback fonts run wider
        f'  X [label={_label("X", "t")}, shape=box, style=filled, fillcolor="#f1f3f5", color="{IDLE}"];',
        f'  S [label={_label("S", "t")}, shape=ellipse, style=filled, fillcolor="#d0e1f5", color="{REACHED}"];',
        f'  P [label={_label("P", "t")}, shape=box, color="{REACHED}"];',
        f'  L [label={_label("L", "t")}, shape=box, style=filled, fillcolor="#ffe8d9", color="{TRAINED}", penwidth=2];',
        f'  out [label={_label("S", "t", "to the next run")}, shape=ellipse, style=dashed, color="{IDLE}", '
        'fontsize=10, margin="0.15,0.1"];',
        f'  X -> S [color="{REACHED}"]; S -> P [color="{REACHED}"]; P -> L [color="{REACHED}"];',
        f'  prev -> S [style=dashed, color="{IDLE}", label="a constant: no error goes back", fontsize=9, '
        'fontcolor="#495057"];',
        f'  S -> out [style=dashed, color="{IDLE}"];',
        "  { rank=same; prev; S; out; }",
        "}",
    ])


def drawn_positions(n: int, max_drawn: int = 12) -> list[int | None]:
    """Window positions to draw: all when n <= max_drawn, else the first and last few with None for the gap."""
    if n <= max_drawn:
        return list(range(n))
    head = (max_drawn - 1) // 2
    tail = max_drawn - 1 - head
    return list(range(head)) + [None] + list(range(n - tail, n))


def unrolled_dot(n: int, k1: int | None = None, trace: int | None = None, max_drawn: int = 12,
                 notes: dict[str, str] | None = None) -> str:
    """The graph n steps wide under BPTT(n; k1) (k1 = n: TensorFlow style).

    Trained losses are filled orange, untrained ones grey; the loss at position `trace` (default the
    last) has its backward reach drawn: the states S_0..S_trace its error arrives at, in blue.
    The state carried to the next window is S_{k1-1}. `notes` adds a second line to nodes by name
    ("X3", "S3", "P3", "L3", "init"), such as a stepped window's values.
    """
    notes = notes or {}
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    k1 = n if k1 is None else k1
    if not 1 <= k1 <= n:
        raise ValueError(f"k1 must be in [1, n = {n}], got {k1}")
    trace = n - 1 if trace is None else trace
    if not 0 <= trace < n:
        raise ValueError(f"trace must be a window position in [0, {n - 1}], got {trace}")
    positions = drawn_positions(n, max_drawn)
    carried = carried_position(k1)
    is_trained = [r["trained"] for r in loss_reach(n, k1)]
    lines = [
        "digraph unrolled {",
        '  rankdir=BT; nodesep=0.25; ranksep=0.3; '
        'node [fontname="Helvetica", fontsize=14, margin="0.04,0.02", width=0.45, height=0.36];',
        '  edge [arrowsize=0.6, fontname="Helvetica"];',
        f'  init [label={_label("S", "-1", notes.get("init", "carried in"))}, shape=ellipse, style=dashed, '
        f'color="{IDLE}", fontsize=10];',
        f'  next [label={_label("S", str(carried), "to the next window")}, shape=ellipse, style=dashed, '
        f'color="{IDLE}", fontsize=10];',
    ]
    chain: list[tuple[str, int]] = [("init", -1)]  # the state row, left to right, with window positions
    for i, t in enumerate(positions):
        if t is None:
            hidden = n - len([p for p in positions if p is not None])
            lines.append(f'  gap [label="… {hidden} more …", shape=plaintext, fontcolor="#495057"];')
            chain.append(("gap", positions[i + 1] - 1))
            continue
        trained = is_trained[t]
        reached = t <= trace
        s_fill = "#d0e1f5" if reached else "white"
        s_color = REACHED if reached else IDLE
        l_style = (f'style=filled, fillcolor="#ffe8d9", color="{TRAINED}"' if trained
                   else f'style=dashed, color="{IDLE}", fontcolor="{IDLE}"')
        pen = ", penwidth=2.5" if t == trace else ""
        lines += [
            f'  X{t} [label={_label("X", str(t), notes.get(f"X{t}", ""))}, shape=box, style=filled, '
            f'fillcolor="#f1f3f5", color="{IDLE}"];',
            f'  S{t} [label={_label("S", str(t), notes.get(f"S{t}", ""))}, shape=ellipse, style=filled, '
            f'fillcolor="{s_fill}", '
            f'color="{s_color}"];',
            f'  P{t} [label={_label("P", str(t), notes.get(f"P{t}", ""))}, shape=box, color="{IDLE}"];',
            f'  L{t} [label={_label("L", str(t), notes.get(f"L{t}", ""))}, shape=box, {l_style}{pen}];',
            f'  X{t} -> S{t} [color="{REACHED if reached else IDLE}"];',
            f'  S{t} -> P{t} [color="{REACHED if t == trace else IDLE}"];',
            f'  P{t} -> L{t} [color="{REACHED if t == trace else IDLE}"];',
        ]
        chain.append((f"S{t}", t))
    for (a, _), (b, pos) in zip(chain[:-1], chain[1:]):
        if a == "init":
            lines.append(f'  init -> {b} [style=dashed, color="{IDLE}", label="no gradient", fontsize=9, '
                         'fontcolor="#495057"];')
        elif pos <= trace:
            lines.append(f'  {a} -> {b} [color="{REACHED}", penwidth=2];')
        else:
            lines.append(f'  {a} -> {b} [color="{IDLE}"];')
    carried_node = f"S{carried}" if carried in positions else "gap"
    lines.append(f'  {carried_node} -> next [style=dashed, color="{IDLE}"];')
    lines.append("  { rank=same; " + "; ".join(name for name, _ in chain) + "; next; }")
    lines.append("}")
    return "\n".join(lines)
