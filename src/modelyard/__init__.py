"""modelyard: track, package, register and serve machine-learning models.

``import modelyard`` is cheap: the fluent API is loaded on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
