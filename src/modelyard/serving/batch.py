"""Batch scoring: a model applied to a CSV, Parquet or JSON file, one chunk of rows at a time.

:func:`predict_file` reads the input in chunks of ``chunk_size`` rows (pandas ``read_csv`` with
``chunksize``, pyarrow ``ParquetFile.iter_batches``, JSON Lines line by line), calls the model on each
chunk (its signature enforced, as in serving) and appends each chunk's predictions to the output
(CSV rows, Parquet row groups through one ``ParquetWriter``, JSON Lines, or MLflow's
``{"predictions": [...]}`` written piece by piece). So a file larger than memory goes through with
memory bounded by a few chunks.

A JSON input is either JSON Lines (one record object per line, read in chunks) or one request
document as ``/invocations`` takes it (``dataframe_split``, ``dataframe_records``, ``instances`` or
``inputs``, with optional ``params``); a document is parsed whole, so it must fit in memory.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from modelyard.errors import BadRequest, InvalidInput, ModelyardError, NotFound

INPUT_FORMATS = ("csv", "parquet", "json", "jsonl")
OUTPUT_FORMATS = ("csv", "parquet", "json", "jsonl")
DEFAULT_CHUNK_SIZE = 100_000
PAYLOAD_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

#: ``on_progress(rows_done, units_done, units_total, unit)``: ``unit`` is "bytes" or "rows";
#: ``units_total`` is ``None`` when the size is unknown (standard input).
ProgressFn = Callable[[int, int, "int | None", str], None]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What :func:`predict_file` did: rows read and written, chunks, format, wall time."""

    rows_in: int
    rows_out: int
    chunks: int
    input_format: str
    output_format: str
    seconds: float


def format_of(path: str | None, given: str | None, default: str | None, what: str) -> str:
    """``given``, else the format the file extension names, else ``default``."""
    choices = INPUT_FORMATS if what == "input" else OUTPUT_FORMATS
    if given:
        name = given.lower().removeprefix(".")
        if name not in choices:
            raise InvalidInput(f"Unknown {what} format {given!r}: use one of {', '.join(choices)}.")
        return name
    if path and path != "-":
        found = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
        if found:
            return found
    if default:
        return default
    raise InvalidInput(
        f"Cannot tell the {what} format of {path or 'standard input'!r} from its name: pass "
        f"--content-type ({', '.join(choices)})."
    )


def predict_file(
    model: Any,
    input_path: str | os.PathLike[str] | BinaryIO,
    output_path: str | os.PathLike[str] | BinaryIO,
    *,
    content_type: str | None = None,
    output_format: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    params: Mapping[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
    allow_pickle: bool | None = None,
) -> BatchResult:
    """Score ``input_path`` with ``model`` and write the predictions to ``output_path``.

    ``model`` is a loaded :class:`~modelyard.models.pyfunc.PyFuncModel` or a model URI (a path,
    ``runs:/``, ``models:/``...). ``input_path``/``output_path`` are paths, ``"-"`` for standard
    input/output, or binary file objects. The input format comes from ``content_type`` or the
    extension; the output format from ``output_format``, the extension, else ``json``
    (``{"predictions": [...]}``, as MLflow writes). ``params`` go to every ``predict`` call
    (a JSON document's own ``params`` are used when this is empty).
    """
    if chunk_size < 1:
        raise InvalidInput(f"The chunk size must be at least 1 row; got {chunk_size}.")
    started = time.monotonic()
    in_name = _name(input_path)
    out_name = _name(output_path)
    fmt_in = format_of(in_name, content_type, None, "input")
    fmt_out = format_of(out_name, output_format, "json", "output")
    if not hasattr(model, "predict"):
        import modelyard.pyfunc

        model = modelyard.pyfunc.load_model(os.fspath(model), allow_pickle=allow_pickle)
    call_params = dict(params) if params else None

    rows_in = rows_out = chunks = 0
    with _open_input(input_path) as source, _open_output(output_path) as sink:
        reader = _read(fmt_in, source, in_name, chunk_size, model.signature)
        writer = _writer(fmt_out, sink)
        try:
            for chunk in reader:
                n = _rows(chunk.data)
                where = f"rows {rows_in + 1}-{rows_in + n} of {in_name}" if n else in_name
                try:
                    predictions = model.predict(chunk.data, params=chunk.params or call_params)
                except ModelyardError as exc:
                    raise type(exc)(f"{where}: {exc.message}") from None
                except Exception as exc:
                    raise BadRequest(
                        f"The model failed on {where}: {type(exc).__name__}: {exc}"
                    ) from None
                rows_out += writer.write(predictions)
                rows_in += n
                chunks += 1
                if on_progress is not None:
                    on_progress(rows_in, chunk.units_done, chunk.units_total, chunk.unit)
        except BaseException:
            writer.abort()
            raise
        writer.close()
    return BatchResult(rows_in, rows_out, chunks, fmt_in, fmt_out, time.monotonic() - started)


def _name(target: Any) -> str:
    if isinstance(target, (str, os.PathLike)):
        text = os.fspath(target)
        return "standard input" if text == "-" else text
    return str(getattr(target, "name", None) or "the stream")


# ---------------------------------------------------------------------------------------- input
class _Counting(io.RawIOBase):
    """A read-only binary stream over ``raw`` that counts the bytes read through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


class _Source:
    def __init__(self, stream: BinaryIO, size: int | None, path: str | None) -> None:
        self.counter = _Counting(stream)
        self.stream = io.BufferedReader(self.counter, buffer_size=1 << 16)
        self.size = size
        self.path = path


class _open_input:
    """The input as a counted binary stream (standard input for ``-``)."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._close: BinaryIO | None = None

    def __enter__(self) -> _Source:
        target = self.target
        if isinstance(target, (str, os.PathLike)) and os.fspath(target) == "-":
            return _Source(sys.stdin.buffer, None, None)
        if isinstance(target, (str, os.PathLike)):
            path = os.fspath(target)
            if os.path.isdir(path):
                raise InvalidInput(f"The input {path} is a directory, not a file.")
            try:
                handle = open(path, "rb")
            except FileNotFoundError:
                raise NotFound(f"The input file {path} does not exist.") from None
            except OSError as exc:
                raise InvalidInput(
                    f"The input file {path} cannot be read: {exc.strerror}."
                ) from None
            self._close = handle
            return _Source(handle, os.fstat(handle.fileno()).st_size, path)
        return _Source(target, None, None)

    def __exit__(self, *exc: object) -> None:
        if self._close is not None:
            self._close.close()


@dataclass(frozen=True, slots=True)
class _Chunk:
    data: Any
    units_done: int
    units_total: int | None
    unit: str
    params: dict[str, Any] | None = None


def _rows(data: Any) -> int:
    shape = getattr(data, "shape", None)
    if shape:
        return int(shape[0])
    if isinstance(data, Mapping):
        values = list(data.values())
        return len(values[0]) if values and hasattr(values[0], "__len__") else 1
    return len(data) if hasattr(data, "__len__") else 1


def _read(
    fmt: str, source: _Source, name: str, chunk_size: int, signature: Any
) -> Iterator[_Chunk]:
    if fmt == "csv":
        return _read_csv(source, name, chunk_size, signature)
    if fmt == "parquet":
        return _read_parquet(source, name, chunk_size)
    return _read_json(source, name, chunk_size, fmt == "jsonl", signature)


def _string_columns(signature: Any) -> dict[str, type]:
    """Columns the signature types as strings, read as text (so "007" stays "007")."""
    schema = signature.inputs if signature is not None else None
    if schema is None or schema.is_tensor or not schema.has_names:
        return {}
    return {s.name: str for s in schema.specs if getattr(s.type, "value", None) == "string"}


def _read_csv(source: _Source, name: str, chunk_size: int, signature: Any) -> Iterator[_Chunk]:
    import pandas as pd

    try:
        reader = pd.read_csv(
            source.stream, chunksize=chunk_size, dtype=_string_columns(signature) or None
        )
        for frame in reader:
            yield _Chunk(frame, source.counter.count, source.size, "bytes")
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"The input {name} is empty: a CSV file needs a header row.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"The input {name} is not readable as CSV: {detail}") from None


def _read_parquet(source: _Source, name: str, chunk_size: int) -> Iterator[_Chunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    spool: Any = None
    if source.path is not None:
        target: Any = source.path
    else:
        # Parquet keeps its index at the end of the file: spool a stream to disk, not to memory.
        spool = tempfile.TemporaryFile(prefix="modelyard-batch-")  # noqa: SIM115 (closed below)
        shutil.copyfileobj(source.stream, spool, 1 << 20)
        spool.seek(0)
        target = spool
    try:
        try:
            parquet = pq.ParquetFile(target)
        except (pa.ArrowException, OSError) as exc:
            detail = str(exc).split(". ")[0].rstrip(".")
            raise InvalidInput(f"The input {name} is not a Parquet file ({detail}).") from None
        total = parquet.metadata.num_rows
        done = 0
        for batch in parquet.iter_batches(batch_size=chunk_size):
            done += batch.num_rows
            yield _Chunk(batch.to_pandas(), done, total, "rows")
    finally:
        if spool is not None:
            spool.close()


def _read_json(
    source: _Source, name: str, chunk_size: int, lines_only: bool, signature: Any
) -> Iterator[_Chunk]:
    import orjson

    stream = source.stream
    first = stream.readline()
    while first and not first.strip():
        first = stream.readline()
    if not first:
        raise InvalidInput(f"The input {name} is empty.")
    try:
        head = orjson.loads(first)
        parsed = True
    except orjson.JSONDecodeError:
        head, parsed = None, False
    is_payload = isinstance(head, dict) and any(k in head for k in PAYLOAD_KEYS)
    if lines_only or (parsed and isinstance(head, dict) and not is_payload):
        yield from _read_json_lines(source, name, chunk_size, head if parsed else first)
        return
    document = head if parsed else None
    rest = stream.read()
    if is_payload and rest.strip():
        raise InvalidInput(
            f"The input {name} holds more than one request document: a JSON file is one "
            "document; for many rows use JSON Lines, one record object per line."
        )
    if document is None or rest.strip():
        try:
            document = orjson.loads(first + rest)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"The input {name} is not valid JSON: {exc}") from None
    data, params = decode_payload(document, f"The input {name}", signature)
    size = source.counter.count
    frame_like = hasattr(data, "iloc")
    if not frame_like or len(data) <= chunk_size:
        yield _Chunk(data, size, size, "bytes", params)
        return
    for start in range(0, len(data), chunk_size):
        yield _Chunk(data.iloc[start : start + chunk_size], size, size, "bytes", params)


def _read_json_lines(source: _Source, name: str, chunk_size: int, first: Any) -> Iterator[_Chunk]:
    import orjson
    import pandas as pd

    records: list[Any] = []
    if isinstance(first, bytes):
        lines: Iterator[bytes] = iter([first])
        first_parsed = None
    else:
        lines = iter(())
        first_parsed = first
    number = 0

    def flush() -> _Chunk:
        frame = pd.DataFrame.from_records(records)
        records.clear()
        return _Chunk(frame, source.counter.count, source.size, "bytes")

    if first_parsed is not None:
        number = 1
        records.append(_record(first_parsed, name, number))
    for line in _chain(lines, source.stream):
        number += 1
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                f"The input {name}, line {number}, is not valid JSON: {exc}"
            ) from None
        records.append(_record(value, name, number))
        if len(records) >= chunk_size:
            yield flush()
    if records:
        yield flush()


def _chain(head: Iterator[bytes], stream: BinaryIO) -> Iterator[bytes]:
    yield from head
    yield from stream


def _record(value: Any, name: str, number: int) -> Any:
    if isinstance(value, dict):
        if any(k in value for k in PAYLOAD_KEYS) and len(value) <= 2:
            raise InvalidInput(
                f"The input {name}, line {number}, is a request document; a JSON Lines file "
                "holds one record per line (a JSON document file holds one request)."
            )
        return value
    raise InvalidInput(
        f"The input {name}, line {number}, is a JSON {type(value).__name__}; a JSON Lines file "
        'holds one object per line ({"column": value, ...}).'
    )


def decode_payload(
    document: Any, name: str = "the request", signature: Any = None
) -> tuple[Any, dict[str, Any] | None]:
    """The model input and params of an ``/invocations`` JSON document, parsed exactly as the
    scoring server parses a body (:func:`modelyard.serving.payloads.parse_json`); a bare list is
    read as ``dataframe_records``."""
    import orjson

    from modelyard.serving.payloads import InputPlan, parse_json

    if isinstance(document, list):
        document = {"dataframe_records": document}
    try:
        decoded = parse_json(orjson.dumps(document), InputPlan.of(signature))
    except ModelyardError as exc:
        raise type(exc)(f"{name}: {exc.message}") from None
    return decoded.model_input(), decoded.params


# ---------------------------------------------------------------------------------------- output
class _open_output:
    """The output as a binary stream (standard output for ``-``), written as it goes."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self._close: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        target = self.target
        if isinstance(target, (str, os.PathLike)) and os.fspath(target) == "-":
            return sys.stdout.buffer
        if isinstance(target, (str, os.PathLike)):
            path = os.fspath(target)
            try:
                handle = open(path, "wb")
            except OSError as exc:
                raise InvalidInput(
                    f"The output file {path} cannot be written: {exc.strerror}."
                ) from None
            self._close = handle
            return handle
        return target

    def __exit__(self, kind: object, *exc: object) -> None:
        if self._close is not None:
            self._close.close()
            if kind is not None:  # no half-written output left behind
                os.remove(self._close.name)
        else:
            stream = sys.stdout.buffer if self.target == "-" else self.target
            stream.flush()


def to_frame(predictions: Any) -> Any:
    """Predictions as a DataFrame: a Series or 1-D array is one column, ``prediction``."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions
    if isinstance(predictions, pd.Series):
        return predictions.to_frame(
            predictions.name if predictions.name is not None else "prediction"
        )
    if isinstance(predictions, Mapping):
        return pd.DataFrame({str(k): np.asarray(v).tolist() for k, v in predictions.items()})
    array = np.asarray(predictions)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim == 1:
        return pd.DataFrame({"prediction": array})
    if array.ndim == 2:
        return pd.DataFrame(array, columns=[str(i) for i in range(array.shape[1])])
    return pd.DataFrame({"prediction": list(array.tolist())})


def to_json_values(predictions: Any) -> list[Any]:
    """Predictions as JSON-ready items, as ``/invocations`` writes them (records for frames)."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        import orjson

        return list(orjson.loads(predictions.to_json(orient="records")))
    if isinstance(predictions, pd.Series):
        import orjson

        return list(orjson.loads(predictions.to_json(orient="values")))
    if isinstance(predictions, np.ndarray):
        return list(predictions.tolist())
    if isinstance(predictions, (list, tuple)):
        return [v.tolist() if hasattr(v, "tolist") else v for v in predictions]
    if isinstance(predictions, Mapping):
        return [to_frame(predictions).to_dict(orient="records")]
    return [predictions.tolist() if hasattr(predictions, "tolist") else predictions]


class _Writer:
    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink

    def write(self, predictions: Any) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (a Parquet footer, the closing bracket of a JSON document)."""

    def abort(self) -> None:
        """Stop after an error: release what is open, write no footer."""


class _CsvWriter(_Writer):
    header = True

    def write(self, predictions: Any) -> int:
        frame = to_frame(predictions)
        text = frame.to_csv(index=False, header=self.header)
        self.header = False
        self.sink.write(text.encode("utf-8"))
        return len(frame)


class _ParquetWriter(_Writer):
    writer: Any = None

    def write(self, predictions: Any) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = to_frame(predictions)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.sink, table.schema)
        elif table.schema != self.writer.schema:
            try:
                table = table.cast(self.writer.schema)
            except (pa.ArrowException, ValueError) as exc:
                raise InvalidInput(
                    f"The predictions of a later chunk do not fit the Parquet schema of the first "
                    f"({exc}); write CSV or JSON Lines instead."
                ) from None
        self.writer.write_table(table)
        return len(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def abort(self) -> None:
        self.close()


class _JsonLinesWriter(_Writer):
    def write(self, predictions: Any) -> int:
        import orjson

        values = to_json_values(predictions)
        option = orjson.OPT_SERIALIZE_NUMPY
        self.sink.write(b"".join(orjson.dumps(_item(v), option=option) + b"\n" for v in values))
        return len(values)


def _item(value: Any) -> Any:
    return value if isinstance(value, dict) else {"prediction": value}


class _JsonWriter(_Writer):
    """``{"predictions": [...]}`` with the items of each chunk appended as they come."""

    started = False

    def write(self, predictions: Any) -> int:
        import orjson

        values = to_json_values(predictions)
        parts = [orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY) for v in values]
        if not parts:
            return 0
        lead = b'{"predictions": [' if not self.started else b", "
        self.started = True
        self.sink.write(lead + b", ".join(parts))
        return len(values)

    def close(self) -> None:
        self.sink.write(b"]}\n" if self.started else b'{"predictions": []}\n')


def _writer(fmt: str, sink: BinaryIO) -> _Writer:
    return {"csv": _CsvWriter, "parquet": _ParquetWriter, "jsonl": _JsonLinesWriter}.get(
        fmt, _JsonWriter
    )(sink)


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "BatchResult",
    "decode_payload",
    "format_of",
    "predict_file",
    "to_frame",
    "to_json_values",
]
