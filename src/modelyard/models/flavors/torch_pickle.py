"""A pickle module for ``torch.save(..., pickle_module=...)`` that pickles with cloudpickle.

``torch.save`` asks its pickle module for ``Pickler`` and ``torch.load`` for ``Unpickler`` and
``load``; cloudpickle's pickler captures classes defined in ``__main__`` or a notebook, and what it
writes is read by the standard unpickler.
"""

from pickle import Unpickler, load, loads

from cloudpickle import CloudPickler as Pickler
from cloudpickle import dump, dumps

__all__ = ["Pickler", "Unpickler", "dump", "dumps", "load", "loads"]
