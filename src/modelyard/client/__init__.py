"""The Python client: an explicit :class:`ModelyardClient` and the fluent API in :mod:`.fluent`.

Modules: ``backend`` (the :class:`TrackingBackend` protocol and the URI -> backend factory),
``local`` (in-process, over the SQL store), ``http`` (the REST API; the only module importing httpx),
``batching`` (asynchronous batched logging), ``context`` (system tags of a new run), ``tracking``
(the explicit client), ``fluent`` (module-level API) and ``frames`` (runs as a pandas DataFrame).
Importing this package loads neither SQLAlchemy nor httpx nor pandas.
"""

from modelyard.client.backend import TrackingBackend, open_backend
from modelyard.client.fluent import ActiveRun
from modelyard.client.tracking import ModelyardClient

__all__ = ["ActiveRun", "ModelyardClient", "TrackingBackend", "open_backend"]
