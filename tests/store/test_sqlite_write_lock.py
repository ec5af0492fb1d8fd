"""The SQLite write lock: writers queue on it across threads and processes, readers never take it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelyard.entities import Metric
from modelyard.errors import TemporarilyUnavailable
from modelyard.store.sql import create_db_engine, open_tracking_store, translate_errors
from modelyard.store.sql.engine import SqliteWriteLock

THREADS = 8
PER_THREAD = 150


def _log(store, run_id: str, key: str, steps: range) -> None:
    for step in steps:
        store.log_batch(run_id, metrics=[Metric(key, step * 0.5, step, step)], params=[], tags=[])


def _steps(store, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in store.get_metric_history(run_id, key, None, None))


@pytest.fixture
def store(tmp_path):
    opened = open_tracking_store(
        f"sqlite:///{tmp_path / 'lock.db'}", default_artifact_root=str(tmp_path / "a")
    )
    yield opened
    opened.close()


def _new_run(store) -> str:
    return store.create_run("0", user_id="u", start_time=0, tags=[], run_name="r").info.run_id


def test_many_threads_writing_one_file_lose_nothing(store, tmp_path):
    run_id = _new_run(store)
    start = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        start.wait()
        _log(store, run_id, f"k{n}", range(PER_THREAD))

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(writer, n) for n in range(THREADS)]:
            future.result(timeout=240)  # a deadlock fails here instead of hanging the suite
    for n in range(THREADS):
        assert _steps(store, run_id, f"k{n}") == list(range(PER_THREAD))
    latest = {m.key: m.step for m in store.get_run(run_id).data.metrics}
    assert latest == {f"k{n}": PER_THREAD - 1 for n in range(THREADS)}
    assert (tmp_path / "lock.db-lock").is_file()


_WRITER = textwrap.dedent(
    """
    import sys, threading
    from modelyard.entities import Metric
    from modelyard.store.sql import open_tracking_store

    uri, run_id, name, per_thread = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = open_tracking_store(uri)
    go = threading.Barrier(4)

    def write(n):
        go.wait()
        for step in range(per_thread):
            metric = Metric(f"{name}-{n}", step * 0.5, step, step)
            store.log_batch(run_id, metrics=[metric], params=[], tags=[])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    print("done")
    """
)


@pytest.mark.slow
def test_two_processes_writing_one_file_lose_nothing(store, tmp_path):
    run_id = _new_run(store)
    uri = f"sqlite:///{tmp_path / 'lock.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, uri, run_id, name, str(PER_THREAD)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        for name in ("a", "b")
    ]
    # this process writes too, while the two others do
    _log(store, run_id, "main", range(PER_THREAD))
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == "done"
    for name in ("a", "b"):
        for n in range(4):
            assert _steps(store, run_id, f"{name}-{n}") == list(range(PER_THREAD))
    assert _steps(store, run_id, "main") == list(range(PER_THREAD))


def test_readers_do_not_take_the_lock(tmp_path):
    """A read in the very thread that holds the write lock would wait on itself if it took it."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'r.db'}", sqlite_busy_timeout_ms=300)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with engine.begin() as writer:
            writer.exec_driver_sql("INSERT INTO t VALUES (2)")
            reader = engine.connect().execution_options(modelyard_readonly=True)
            with reader:
                # WAL: the reader sees the last commit, not the open write transaction
                assert reader.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]
        with engine.connect().execution_options(modelyard_readonly=True) as reader:
            assert sorted(reader.exec_driver_sql("SELECT x FROM t").scalars()) == [1, 2]
    finally:
        engine.dispose()


def test_a_second_writer_waits_at_most_the_busy_timeout(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}", sqlite_busy_timeout_ms=200)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with engine.begin() as first:
            first.exec_driver_sql("INSERT INTO t VALUES (1)")
            with pytest.raises(TemporarilyUnavailable, match="busy"), engine.begin() as second:
                second.exec_driver_sql("INSERT INTO t VALUES (2)")
        # the failed writer let go of nothing it did not hold; the first one committed
        with engine.begin() as third:
            third.exec_driver_sql("INSERT INTO t VALUES (3)")
        with engine.connect() as conn:
            assert sorted(conn.exec_driver_sql("SELECT x FROM t").scalars()) == [1, 3]
    finally:
        engine.dispose()


def test_a_rolled_back_transaction_lets_the_next_writer_in(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'rb.db'}", sqlite_busy_timeout_ms=300)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER UNIQUE)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        done: list[int] = []

        def other_thread() -> None:
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            done.append(2)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(timeout=60)
        assert done == [2]
    finally:
        engine.dispose()


def test_a_writer_outside_modelyard_is_waited_for_by_the_busy_timeout(tmp_path):
    """The busy timeout stays the fallback: a foreign writer holding SQLite's lock is waited for."""
    path = tmp_path / "foreign.db"
    engine = create_db_engine(f"sqlite:///{path}", sqlite_busy_timeout_ms=200)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        foreign = sqlite3.connect(path, isolation_level=None)
        foreign.execute("BEGIN IMMEDIATE")
        foreign.execute("INSERT INTO t VALUES (1)")
        # as the stores see it: SQLite's "database is locked" after the busy timeout
        with pytest.raises(TemporarilyUnavailable), translate_errors(), engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        foreign.execute("COMMIT")
        foreign.close()
        with engine.begin() as conn:  # our lock was let go when BEGIN IMMEDIATE failed
            conn.exec_driver_sql("INSERT INTO t VALUES (3)")
        with engine.connect() as conn:
            assert sorted(conn.exec_driver_sql("SELECT x FROM t").scalars()) == [1, 3]
    finally:
        engine.dispose()


def test_engines_on_one_file_share_one_lock_and_memory_has_no_file(tmp_path):
    from modelyard.store.sql.engine import _write_lock_for, parse_db_uri

    uri = f"sqlite:///{tmp_path / 'same.db'}"
    relative = Path(os.path.relpath(tmp_path / "same.db"))
    first = _write_lock_for(parse_db_uri(uri), memory=False)
    second = _write_lock_for(parse_db_uri(f"sqlite:///{relative}"), memory=False)
    assert first is second
    assert first.lock_path == str((tmp_path / "same.db").resolve()) + "-lock"
    assert _write_lock_for(parse_db_uri("sqlite://"), memory=True).lock_path is None


def _log_and_read(store, run_id: str, key: str, steps: range) -> None:
    for step in steps:
        _log(store, run_id, key, range(step, step + 1))
        assert _steps(store, run_id, key)[-1] == step


def test_threads_writing_and_reading_an_in_memory_database_queue(tmp_path):
    """One connection serves every thread there: its transactions, reads too, take turns."""
    store = open_tracking_store("sqlite://", default_artifact_root=str(tmp_path / "a"))
    try:
        run_id = _new_run(store)
        with ThreadPoolExecutor(4) as pool:
            futures = [
                pool.submit(_log_and_read, store, run_id, f"m{n}", range(50)) for n in range(4)
            ]
            for future in futures:
                future.result(timeout=120)
        for n in range(4):
            assert _steps(store, run_id, f"m{n}") == list(range(50))
    finally:
        store.close()


def test_a_forked_child_gets_its_own_lock(tmp_path):
    """A lock descriptor inherited over fork would share the parent's flock; the child reopens."""
    lock = SqliteWriteLock(str(tmp_path / "f.db-lock"))
    lock.acquire(timeout_s=5)
    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                import fcntl

                lock._after_fork_in_child()
                fd = lock._file()
                try:  # the parent holds the flock: the child's own descriptor must not get it
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    os.write(write_fd, b"shared")
                except BlockingIOError:
                    os.write(write_fd, b"separate")
            finally:
                os._exit(0)
        os.close(write_fd)
        _, status = os.waitpid(pid, 0)
        assert os.read(read_fd, 16) == b"separate"
        assert os.waitstatus_to_exitcode(status) == 0
        os.close(read_fd)
    finally:
        lock.release()
