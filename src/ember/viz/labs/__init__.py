"""The lectures' experiments, reproduced with Ember (``ember lab NAME``): each lab module has ``TITLE`` and
``run(folder, tiny) -> Lab`` (its pictures written into ``folder``, the text and the numbers behind them).

``run_lab`` writes ``NAME/index.html`` (the pictures with the text, in ``ember.viz.page``'s look) and
``NAME/numbers.json``. ``tiny`` runs a small version in seconds, for the tests.
"""

from ember.viz.labs.base import LABS, Lab, run_lab

__all__ = ["LABS", "Lab", "run_lab"]
