"""The REST server: a FastAPI app built by :func:`modelyard.server.app.create_app`.

Modules: ``app`` (composition root and lifespan), ``deps`` (injected services), ``rpc`` (the MLflow
request conventions and route building), ``errors`` (the one error renderer), ``responses`` (orjson
responses) and ``routes/`` (endpoints by resource). Nothing here holds a module-level app or store.
"""
