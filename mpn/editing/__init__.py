"""Editing a model: the editing methods by name (methods/), the memory each edit keeps
(with its per-edit held-out mask), the last FFN's cached inputs, the engines that train a
patch (cached and full forward, the compiled step and update), and `Editor`, the entry
point.

Imports mpn.model and mpn.core. Empty on purpose: `mpn.editing.method_names` loads
without numba."""
