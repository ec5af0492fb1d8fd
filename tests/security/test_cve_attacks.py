"""The published MLflow attack classes (reference §9), replayed against a real modelyard server.

Each attack string comes from a CVE, advisory or issue: path traversal in every artifact path parameter
(#7166, CVE-2023-6831 for deletes), iterative URL-decoding, ``//proc/self/root`` (CVE-2023-6977), ``#``
fragments and query strings in ``artifact_location`` (CVE-2023-6909, CVE-2024-3848, PR #10653),
``http:///#/../../`` (CVE-2024-1483), ``dbfs:/`` (CVE-2024-8859), local files registered through
``model-versions/create`` and read back through ``/model-versions/get-artifact`` and ``/get-artifact``
(CVE-2023-1177, CVE-2023-1176, CVE-2024-1558), SSRF through artifact locations (#24767) and through
webhooks (private addresses, names and numeric spellings that resolve to loopback, redirects, the test
endpoint, a target pinned before the rules changed, #24179).

Requests go over real sockets to uvicorn on 127.0.0.1, byte for byte as written (an HTTP client library
would normalise ``..`` away). Every attempt must be refused with a 4xx MLflow JSON error, no file
outside the artifact roots may be read or written, and a canary listener on 127.0.0.1 (standing in for
an internal service) must receive nothing.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from security_helpers import API, Canary, Live, listening, serve, settings_for

from modelyard.server.app import create_app
from modelyard.store.artifacts.paths import is_private_host

SECRET = b"root:x:0:0:canary secret outside every artifact root\n"
PROXY = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
TRACKING = (API, "/ajax-api/2.0/mlflow")

#: Artifact paths as a request carries them (the secret is at <tmp>/secret.txt and
#: <tmp>/outside/secret.txt; the proxy's destination is <tmp>/root/mlartifacts).
PATH_ATTACKS = [
    "../secret.txt",
    "../../secret.txt",
    "../../../outside/secret.txt",
    "../../../../../../../../etc/passwd",
    "a/../../../secret.txt",
    "0/run/artifacts/../../../../../secret.txt",
    "..",
    "%2e%2e/%2e%2e/secret.txt",
    "%2E%2E%2F%2E%2E%2Fsecret.txt",
    "%252e%252e/%252e%252e/secret.txt",
    "%25252e%25252e%25252f%25252e%25252e%25252fsecret.txt",
    "..%2f..%2f..%2fsecret.txt",
    "..%252f..%252fsecret.txt",
    ".%2e/.%2e/secret.txt",
    "/etc/passwd",
    "//etc/passwd",
    "//proc/self/root/etc/passwd",
    "//proc/self/cwd/secret.txt",
    "/proc/self/environ",
    "C:\\Windows\\win.ini",
    "c:/windows/win.ini",
    "..\\..\\secret.txt",
    "a\\..\\..\\..\\secret.txt",
    "%23/../../../secret.txt",
    "secret.txt%00.png",
    "a/%3f/../../../secret.txt",
]

#: ``artifact_location`` values for experiments/create, with the published bypasses.
LOCATION_ATTACKS = [
    "http:///#/../../{tmp}",
    "http:///#/../../../../etc",
    "http://example.com/#/../../secret.txt",
    "file:///{tmp}/x#/../../secret.txt",
    "{tmp}/x#/../..",
    "{tmp}/x%23/../..",
    "{tmp}/x?y=/../../",
    "file://{tmp}/x?/../../",
    "s3://bucket/key?versionId=1",
    "mlflow-artifacts:/x?a=/../../",
    "//proc/self/root",
    "//proc/self/root{tmp}",
    "file:////proc/self/root/etc",
    "file://evil.example.com/share",
    "{tmp}/root/../outside",
    "{tmp}/%2e%2e/outside",
    "{tmp}/%252e%252e/outside",
    "mlflow-artifacts:/../../outside",
    "mlflow-artifacts:/%2e%2e/%2e%2e/outside",
    "dbfs:/databricks/mlflow",
    "dbfs:/../../etc",
    "runs:/0123456789abcdef0123456789abcdef/artifacts",
    "models:/model/1",
    "ftp://files.example.com/artifacts",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "javascript:alert(1)",
    "{tmp}/x\x00y",
    "C:\\..\\..\\outside",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "{canary}/artifacts",
    "http://localhost:{port}/artifacts",
    "http://[::1]:{port}/artifacts",
    "http://[::ffff:127.0.0.1]:{port}/artifacts",
    "http://2130706433:{port}/artifacts",
    "http://0177.0.0.1:{port}/artifacts",
    "http://0x7f.1:{port}/artifacts",
    "http://127.1:{port}/artifacts",
    "http://0.0.0.0:{port}/artifacts",
    "http://10.0.0.5/artifacts",
    "https://192.168.1.1/artifacts",
]

#: Model-version ``source`` values (CVE-2023-1177 and its bypasses, SSRF through sources).
SOURCE_ATTACKS = [
    "{tmp}/outside",
    "{tmp}",
    "/etc",
    "/etc/passwd",
    "file://{tmp}/outside",
    "file:///etc/passwd",
    "file://evil.example/etc/passwd",
    "//proc/self/root{tmp}/outside",
    "{run_dir}/../../../../outside",
    "{run_dir}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/outside",
    "{run_dir}/%252e%252e/%252e%252e/%252e%252e/%252e%252e/outside",
    "{run_dir}\\..\\..\\outside",
    "{run_dir}/model%00",
    "runs:/{run}/../../../../outside",
    "runs:/{run}/%2e%2e/%2e%2e/%2e%2e/outside",
    "runs:/0123456789abcdef0123456789abcdef/model",
    "models:/other-model/1",
    "http:///#/../../{tmp}/outside",
    "mlflow-artifacts:/../../../outside",
    "dbfs:/databricks/driver",
    "{canary}/model",
    "http://localhost:{port}/model",
    "http://{loopback_name}:{port}/model",
    "http://2130706433:{port}/model",
    "http://0177.0.0.1:{port}/model",
    "http://[::ffff:127.0.0.1]:{port}/model",
    "http://169.254.169.254/latest/meta-data/",
    "gopher://127.0.0.1:{port}/_x",
]


@dataclass
class Target:
    live: Live
    canary: Canary
    tmp: Path
    destination: Path
    run: str
    run_dir: Path
    model: str

    def send(self, method: str, target: str, body: bytes | None = None, headers=None):
        return self.live.raw(method, target, body, headers)

    def post(self, path: str, payload: dict):
        return self.send(
            "POST",
            f"{API}/{path}",
            orjson.dumps(payload),
            {"Content-Type": "application/json"},
        )

    def fill(self, template: str) -> str:
        return template.format(
            tmp=str(self.tmp),
            run=self.run,
            run_dir=str(self.run_dir),
            canary=self.canary.url,
            port=self.canary.port,
            loopback_name=loopback_name(),
        )


def loopback_name() -> str:
    """A DNS name of this machine that resolves to a loopback or private address (from /etc/hosts),
    and that no name-only check catches: the rebinding case of a source URL."""
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    assert not is_private_host(name), name
    assert addresses and all(ipaddress.ip_address(a).is_private for a in addresses), addresses
    return name


def _files(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in filenames:
            path = here / name
            if path.suffix in (".db", ".db-wal", ".db-shm") or name.endswith("-lock"):
                continue
            st = path.lstat()
            found[str(path)] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("cve")
    (tmp / "secret.txt").write_bytes(SECRET)
    (tmp / "outside").mkdir()
    (tmp / "outside" / "secret.txt").write_bytes(SECRET)
    (tmp / "outside" / "MLmodel").write_bytes(SECRET)
    root = tmp / "root"
    root.mkdir()
    destination = root / "mlartifacts"
    destination.mkdir()
    settings = settings_for(root, webhook_allow_http=True)
    with listening() as canary, serve(create_app(settings)) as live:
        t = Target(live, canary, tmp, destination, "", Path(), "")
        _, _, body = t.post("runs/create", {"experiment_id": "0", "start_time": 1})
        t.run = orjson.loads(body)["run"]["info"]["run_id"]
        t.run_dir = root / "artifacts" / "0" / t.run / "artifacts"  # the run's local folder
        status, _, body = t.post("registered-models/create", {"name": "victim"})
        assert status == 200, body
        t.model = "victim"
        status, _, body = t.post(
            "model-versions/create",
            {"name": "victim", "source": f"runs:/{t.run}/model", "run_id": t.run},
        )
        assert status == 200, body
        yield t


@pytest.fixture
def untouched(target: Target) -> Iterator[None]:
    """No file outside the artifact roots changes, and the canary hears nothing."""
    roots = (target.destination, target.tmp / "root" / "artifacts")
    before = _files(target.tmp, roots)
    heard = len(target.canary.connections)
    yield
    time.sleep(0.05)
    assert _files(target.tmp, roots) == before
    assert (target.tmp / "secret.txt").read_bytes() == SECRET
    assert target.canary.connections[heard:] == []


def assert_refused(answer, what: str) -> None:
    status, _headers, body = answer
    assert 400 <= status < 500, (what, status, body[:300])
    assert SECRET not in body and b"canary!" not in body, what
    if status != 405:
        error = orjson.loads(body)
        assert set(error) == {"error_code", "message"}, (what, error)
    for leak in (b"Traceback", b"site-packages"):
        assert leak not in body, (what, body[:300])


def _artifact_requests(t: Target, attack: str) -> list[tuple[str, str, bytes | None, dict]]:
    """Every route that takes an artifact path, with ``attack`` as its path."""
    raw = attack
    query = quote(attack, safe="")
    json = {"Content-Type": "application/json"}
    calls: list[tuple[str, str, bytes | None, dict]] = []
    for prefix in PROXY:
        calls += [
            ("GET", f"{prefix}/artifacts/{raw}", None, {}),
            ("HEAD", f"{prefix}/artifacts/{raw}", None, {}),
            ("PUT", f"{prefix}/artifacts/{raw}", b"pwned", {}),
            ("DELETE", f"{prefix}/artifacts/{raw}", None, {}),
            ("GET", f"{prefix}/artifacts?path={query}", None, {}),
            ("GET", f"{prefix}/presigned/{raw}", None, {}),
            ("POST", f"{prefix}/mpu/create/{raw}", orjson.dumps({"path": "x.bin"}), json),
            (
                "POST",
                f"{prefix}/mpu/abort/{raw}",
                orjson.dumps({"path": "x", "upload_id": "u"}),
                json,
            ),
        ]
    for prefix in TRACKING:
        calls.append(("GET", f"{prefix}/artifacts/list?run_id={t.run}&path={query}", None, {}))
    calls += [
        ("GET", f"/get-artifact?run_id={t.run}&path={query}", None, {}),
        ("HEAD", f"/get-artifact?run_id={t.run}&path={query}", None, {}),
        ("GET", f"/model-versions/get-artifact?name={t.model}&version=1&path={query}", None, {}),
    ]
    return calls


@pytest.mark.parametrize("attack", PATH_ATTACKS)
def test_path_traversal_in_every_artifact_path_is_refused(target, untouched, attack):
    for method, url, body, headers in _artifact_requests(target, attack):
        answer = target.send(method, url, body, headers)
        if method == "HEAD":
            assert 400 <= answer[0] < 500, (method, url, answer[0])
            continue
        assert_refused(answer, f"{method} {url}")


#: Spellings that look like traversal to a human or an old decoder but name a file inside the root
#: on this server (a raw fragment, overlong UTF-8, the two-dot leader, fullwidth dots): any answer is fine as long as nothing outside
#: changes and no secret comes back.
ODD_INSIDE = [
    "x#/../../../secret.txt",  # the HTTP parser drops the fragment: this names "x"
    "%c0%ae%c0%ae/secret.txt",
    "%e2%80%a5/secret.txt",
    "%ef%bc%8e%ef%bc%8e/secret.txt",
]


@pytest.mark.parametrize("attack", ODD_INSIDE)
def test_look_alike_dots_stay_inside_the_root(target, untouched, attack):
    for method, url, body, headers in _artifact_requests(target, attack):
        status, _, answer = target.send(method, url, body, headers)
        assert status < 500 or status == 501, (method, url, status)  # 501: no presigned URLs
        assert SECRET not in answer, (method, url)


@pytest.mark.parametrize("attack", ["../x.bin", "%2e%2e/x.bin", "/etc/x.bin", "a/../../x.bin"])
def test_traversal_in_the_multipart_file_name_stays_in_the_folder(target, untouched, attack):
    """The body's ``path`` names the file; only its base name counts, and that must be safe."""
    for prefix in PROXY:
        answer = target.send(
            "POST",
            f"{prefix}/mpu/create/upload",
            orjson.dumps({"path": attack, "num_parts": 1}),
            {"Content-Type": "application/json"},
        )
        assert 400 <= answer[0] < 600 and answer[0] != 500, answer  # 501: the store has no MPU
        assert not list(target.destination.glob("**/x.bin*"))


@pytest.mark.parametrize("attack", LOCATION_ATTACKS)
def test_dangerous_artifact_locations_are_refused(target, untouched, attack):
    location = target.fill(attack)
    for prefix in TRACKING:
        name = f"loc-{abs(hash((prefix, location)))}"
        status, _, body = target.send(
            "POST",
            f"{prefix}/experiments/create",
            orjson.dumps({"name": name, "artifact_location": location}),
            {"Content-Type": "application/json"},
        )
        if status == 200:
            # Only names that resolve to loopback get this far (the server does no DNS here): the
            # location must then be unusable by the server itself.
            experiment = orjson.loads(body)["experiment_id"]
            assert "{port}" in attack or "{canary}" in attack, (location, body)
            _, _, run_body = target.post("runs/create", {"experiment_id": experiment})
            run = orjson.loads(run_body)["run"]["info"]["run_id"]
            for url in (f"/get-artifact?run_id={run}&path=x", f"{API}/artifacts/list?run_id={run}"):
                assert_refused(target.send("GET", url), url)
        else:
            assert_refused((status, {}, body), location)


def test_every_numeric_loopback_spelling_is_refused_at_creation(target, untouched):
    """A hole fixed here: ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` were not seen as
    loopback by the artifact-location check (they are not IP literals to ``ipaddress``)."""
    for host in (
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "[::127.0.0.1]",
    ):
        status, _, body = target.post(
            "experiments/create",
            {"name": f"num-{host}", "artifact_location": f"http://{host}:{target.canary.port}/a"},
        )
        assert status == 400, (host, body)


def test_local_file_locations_outside_the_roots_are_never_read(target, untouched):
    """``/etc`` or ``file:`` locations may be created (a shared disk is legitimate for clients), but
    the server reads no file outside its own artifact roots for them."""
    for location in (str(target.tmp / "outside"), f"file://{target.tmp}/outside", "/"):
        _, _, body = target.post(
            "experiments/create", {"name": f"local-{location}", "artifact_location": location}
        )
        experiment = orjson.loads(body)["experiment_id"]
        _, _, run_body = target.post("runs/create", {"experiment_id": experiment})
        run = orjson.loads(run_body)["run"]["info"]["run_id"]
        for path in ("secret.txt", f"../../../{'secret.txt'}", "MLmodel"):
            for url in (
                f"/get-artifact?run_id={run}&path={quote(path)}",
                f"{API}/artifacts/list?run_id={run}&path={quote(path)}",
            ):
                assert_refused(target.send("GET", url), url)


@pytest.mark.parametrize("attack", SOURCE_ATTACKS)
def test_model_version_sources_that_read_local_files_or_internal_hosts_are_refused(
    target, untouched, attack
):
    source = target.fill(attack)
    for run_id in (None, target.run):
        payload = {"name": target.model, "source": source}
        if run_id:
            payload["run_id"] = run_id
        answer = target.post("model-versions/create", payload)
        assert_refused(answer, source)
    # and nothing that was refused is readable through the download routes
    _, _, body = target.send(
        "GET", f"{API}/model-versions/search?filter={quote('name=' + repr(target.model))}"
    )
    versions = orjson.loads(body).get("model_versions", [])
    assert [v["version"] for v in versions] == ["1"]
    for path in ("secret.txt", "MLmodel", "../../outside/secret.txt"):
        url = f"/model-versions/get-artifact?name={target.model}&version=1&path={quote(path)}"
        assert_refused(target.send("GET", url), url)


def test_symlinks_out_of_the_destination_are_neither_read_written_nor_deleted(target, untouched):
    link = target.destination / "escape"
    link.symlink_to(target.tmp / "outside", target_is_directory=True)
    file_link = target.destination / "escape.txt"
    file_link.symlink_to(target.tmp / "secret.txt")
    try:
        for prefix in PROXY:
            for method, path, body in (
                ("GET", "escape/secret.txt", None),
                ("GET", "escape.txt", None),
                ("PUT", "escape/secret.txt", b"pwned"),
                ("PUT", "escape/new.txt", b"pwned"),
                ("DELETE", "escape/secret.txt", None),
                ("DELETE", "escape", None),
                ("GET", "artifacts?path=escape", None),
            ):
                url = f"{prefix}/artifacts/{path}" if "?" not in path else f"{prefix}/{path}"
                assert_refused(target.send(method, url, body), f"{method} {url}")
        assert (target.tmp / "outside" / "secret.txt").read_bytes() == SECRET
        assert not (target.tmp / "outside" / "new.txt").exists()
    finally:
        for entry in (link, file_link):
            if entry.is_symlink():
                entry.unlink()


# ------------------------------------------------------------------------------ webhooks (SSRF)
EVENTS = [{"entity": "MODEL_VERSION", "action": "CREATED"}]
WEBHOOK_ATTACKS = [
    "{canary}/hook",
    "https://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",
    "http://LOCALHOST:{port}/hook",
    "http://sub.localhost:{port}/hook",
    "http://{loopback_name}:{port}/hook",
    "http://[::1]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://[::ffff:7f00:1]:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://0177.0.0.1:{port}/hook",
    "http://0x7f000001:{port}/hook",
    "http://127.1:{port}/hook",
    "http://0.0.0.0:{port}/hook",
    "http://0:{port}/hook",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://192.168.0.1/hook",
    "http://user@127.0.0.1:{port}/hook",
    "http://example.com@127.0.0.1:{port}/hook",
    "http://127.0.0.1:{port}#@example.com/hook",
    "http://127.0.0.1%2f@example.com:{port}/hook",
    "gopher://127.0.0.1:{port}/_hook",
    "file:///etc/passwd",
    "dict://127.0.0.1:{port}/",
    "ftp://127.0.0.1:{port}/",
]


@pytest.mark.parametrize("attack", WEBHOOK_ATTACKS)
def test_webhooks_to_internal_addresses_are_refused(target, untouched, attack):
    url = target.fill(attack)
    answer = target.post("webhooks", {"name": "ssrf", "url": url, "events": EVENTS})
    assert_refused(answer, url)
    _, _, body = target.send("GET", f"{API}/webhooks")
    assert [w for w in orjson.loads(body).get("webhooks", []) if w["url"] == url] == []


def test_a_webhook_cannot_be_moved_to_an_internal_address(target, untouched):
    status, _, body = target.post(
        "webhooks", {"name": "public", "url": "http://93.184.216.34/hook", "events": EVENTS}
    )
    assert status == 200, body
    webhook = orjson.loads(body)["webhook"]["webhook_id"]
    for url in (target.canary.url, f"http://2130706433:{target.canary.port}/"):
        answer = target.send(
            "PATCH",
            f"{API}/webhooks/{webhook}",
            orjson.dumps({"url": url}),
            {"Content-Type": "application/json"},
        )
        assert_refused(answer, url)
    target.send("DELETE", f"{API}/webhooks/{webhook}", b"{}", {"Content-Type": "application/json"})


def test_webhook_redirects_to_internal_hosts_are_not_followed(tmp_path):
    """Even where private targets are allowed, a 3xx from the target is a failed delivery."""
    with listening() as internal:
        redirect = (
            f"HTTP/1.1 302 Found\r\nLocation: {internal.url}/metadata\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n"
        ).encode()
        with listening(redirect) as redirector:
            settings = settings_for(
                tmp_path, webhook_allow_http=True, webhook_allow_private_addresses=True
            )
            with serve(create_app(settings)) as live:
                t = Target(live, internal, tmp_path, tmp_path, "", tmp_path, "")
                _, _, body = t.post(
                    "webhooks", {"name": "moved", "url": redirector.url, "events": EVENTS}
                )
                webhook = orjson.loads(body)["webhook"]["webhook_id"]
                _, _, body = t.post(f"webhooks/{webhook}/test", {})
                result = orjson.loads(body)["result"]
                assert result["success"] is False and result["response_status"] == 302, result
                time.sleep(0.1)
        assert len(redirector.connections) == 1
        assert internal.connections == []


def test_a_pinned_private_target_is_refused_once_private_targets_are_off(tmp_path):
    """DNS rebinding of webhooks (#24179): the address is pinned at creation; if it is private and
    the server no longer allows that, the test endpoint and deliveries refuse to send."""
    with listening() as internal:
        loose = settings_for(
            tmp_path, webhook_allow_http=True, webhook_allow_private_addresses=True
        )
        with serve(create_app(loose)) as live:
            t = Target(live, internal, tmp_path, tmp_path, "", tmp_path, "")
            _, _, body = t.post(
                "webhooks",
                {
                    "name": "pinned",
                    "url": f"http://localhost:{internal.port}/",
                    "events": [*EVENTS, {"entity": "REGISTERED_MODEL", "action": "CREATED"}],
                },
            )
            webhook = orjson.loads(body)["webhook"]["webhook_id"]
        strict = settings_for(tmp_path, webhook_allow_http=True, webhook_delivery_threads=1)
        with serve(create_app(strict)) as live:
            t = Target(live, internal, tmp_path, tmp_path, "", tmp_path, "")
            assert_refused(t.post(f"webhooks/{webhook}/test", {}), "test endpoint")
            t.post("registered-models/create", {"name": "evented"})
            deadline = time.monotonic() + 20
            while True:  # the delivery of the event is tried, and fails without sending
                _, _, body = t.send("GET", f"{API}/webhooks/{webhook}/deliveries")
                deliveries = orjson.loads(body).get("deliveries", [])
                if deliveries and deliveries[0]["status"] == "FAILED":
                    break
                assert time.monotonic() < deadline, deliveries
                time.sleep(0.1)
        assert internal.connections == []
