"""The one place the engine imports TensorFlow and Keras, so a process imports them from one thread at a time.

TensorFlow's import takes seconds and runs through many modules that import each other. Started by two
threads at once (a server's warm-up and a student's first Train click, or thirty students' first clicks),
Python's per-module import locks can meet in a cycle: one thread gets `_DeadlockError` or a partially
initialised module ("cannot import name 'make_trainer'"), and that student's run fails. Every engine module
takes `tf` and `keras` from here, so a second thread waits on this module's own import lock, which no
module of TensorFlow's takes, until the first thread's import has finished.
"""
import tensorflow as tf  # noqa: I001 - TensorFlow first: keras 3 picks its backend from it
import keras

__all__ = ["keras", "tf"]
