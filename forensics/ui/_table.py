"""``ClickTable``: an HTML table widget whose rows can be clicked (the row index goes to Python).

The HTML is built (and escaped) in Python by :func:`forensics.ui._html.html_table`; the
front end only sets it as the widget's content and reports which body row was clicked in
``selected`` (``-1``: none). The table scrolls sideways inside the widget instead of being cut.
"""

from __future__ import annotations

import anywidget
import traitlets

__all__ = ["ClickTable"]

_ESM = """
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "fx-clicktable";
  el.appendChild(box);
  const mark = () => {
    const sel = model.get("selected");
    box.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.classList.toggle("fx-selected", i === sel);
    });
  };
  const draw = () => {
    box.innerHTML = model.get("value");  // escaped in Python (html_table)
    box.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.dataset.row = String(i);
      tr.title = tr.title || "click to open this event";
    });
    mark();
  };
  box.addEventListener("click", (e) => {
    const tr = e.target.closest("tbody tr");
    if (!tr || !box.contains(tr)) return;
    model.set("selected", Number(tr.dataset.row));
    model.save_changes();
  });
  model.on("change:value", draw);
  model.on("change:selected", mark);
  draw();
}
export default { render };
"""

_CSS = """
.fx-clicktable { overflow-x: auto; max-width: 100%; }
.fx-clicktable tbody tr { cursor: pointer; }
.fx-clicktable tbody tr:hover { background: #eef4fb; }
.fx-clicktable tbody tr.fx-selected { background: #d7e7fa; }
"""


class ClickTable(anywidget.AnyWidget):
    """An escaped HTML table (``value``) whose clicked body row index lands in ``selected``.

    >>> t = ClickTable(value="<table><tbody><tr><td>a</td></tr></tbody></table>")
    >>> t.selected
    -1
    """

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    _css = traitlets.Unicode(_CSS).tag(sync=True)
    value = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
