"""A widget taken off the page is not closed at once (the page may still be building it)."""

from __future__ import annotations

import gc
import weakref

import ipywidgets as w

from widgets.retire import replace_children


def test_a_replaced_child_stays_open_after_python_drops_it():
    box = w.Box([w.HTML("progress")])
    progress = weakref.ref(box.children[0])
    replace_children(box, [w.HTML("result")])
    gc.collect()
    assert progress() is not None and progress().comm is not None  # not closed by the GC
    kept = box.children[0]
    replace_children(box, [kept])  # a child that stays is not retired
    assert box.children == (kept,)
