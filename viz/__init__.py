"""Chart builders and graph drawings: plain data in, an Altair chart or a Graphviz DOT source out.

common (shared helpers), train_charts (one run, the Train page), compare_charts (several runs),
data_charts (the echo task and a sequence), graph (the seed's graphs as DOT), export (PNG/SVG).
No Streamlit here, and the engine (rnn_core) imports nothing from this package.
"""
