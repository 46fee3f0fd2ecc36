"""Neural-network building blocks: modules, parameters, containers, layers, losses, init, regularization."""

from ember.nn import functional, init, regularization
from ember.nn.containers import ModuleDict, ModuleList, ParameterList, Sequential
from ember.nn.module import Module
from ember.nn.modules import *
from ember.nn.parameter import Buffer, Parameter
from ember.nn.shape_check import InputShapeError
