"""``ember.train.search``: hyperparameter search on Optuna, the lectures' procedure made into a command.

The lectures' advice ("Choosing hyperparameters", "Hyperparameter Optimization"): random search rather than
a grid, rates and strengths sampled on a log scale, coarse to fine, short runs first and longer ones after,
look at the loss curves, then train the best longer. Here: a search space (``space``: per hyperparameter a
range and a scale), the strategy and budgets (``settings``), Optuna's studies, samplers and pruners
underneath (``study``; the only module family of Ember that imports Optuna, an optional extra: ``pip
install 'ember[search]'``), one trial as one normal run directory (``trial``), workers on one machine or
many sharing a PostgreSQL study (``worker``), the search from start to report (``runner``), the results
table (``results``) and the page with its plots (``page``, ``plots``). See ``docs/search.md``.
"""

from ember.train.search.settings import SearchSettings, Stage
from ember.train.search.space import Param, check_space, narrow, parse_param, parse_space

__all__ = ["Param", "SearchSettings", "Stage", "check_space", "narrow", "parse_param", "parse_space"]
