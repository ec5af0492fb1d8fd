"""Serving: score a model over REST, in batch over files, or on Spark.

* :mod:`modelyard.serving.app`: :func:`~modelyard.serving.app.create_scoring_app`, the ASGI app of
  ``modelyard models serve`` (MLflow's ``/invocations`` protocol, ``/metadata``, ``/metrics``);
* :mod:`modelyard.serving.payloads`: parsing request bodies and encoding predictions;
* :mod:`modelyard.serving.batching`: adaptive micro-batching of concurrent requests;
* :mod:`modelyard.serving.watch`: following a registry alias or stage (``--watch``);
* :mod:`modelyard.serving.runner`: uvicorn in one process or in pre-forked workers.

Nothing is imported here: ``import modelyard.serving`` stays cheap, and each module imports
uvicorn, pandas or pyarrow only when it is itself imported.
"""
