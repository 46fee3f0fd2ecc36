"""Layers, activations and losses as modules (``ember.nn.Linear``, ``ember.nn.CrossEntropyLoss``, ...)."""

from ember.nn.modules.linear import Identity, Linear
