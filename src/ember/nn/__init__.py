"""Neural-network building blocks: modules, parameters, containers (layers, losses, init follow)."""

from ember.nn.containers import ModuleDict, ModuleList, ParameterList, Sequential
from ember.nn.module import Module
from ember.nn.parameter import Buffer, Parameter

__all__ = [
    "Buffer",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ParameterList",
    "Sequential",
]
