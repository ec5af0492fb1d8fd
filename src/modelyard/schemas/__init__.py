"""Wire shapes: MLflow's JSON conventions, with no web framework imported.

* :mod:`modelyard.schemas.tracking` turns tracking entities into response JSON and back (the server
  writes with the ``*_to_dict`` functions, the HTTP client reads with the ``*_from_dict`` ones);
* :mod:`modelyard.schemas.fields` is the small declarative field table and the fast request parser
  (snake_case and lowerCamel names, ``run_uuid``, query strings, NaN as strings);
* :mod:`modelyard.schemas.requests` holds the field table of every tracking endpoint.
"""
