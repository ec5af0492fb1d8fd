"""The HTTP backend's own transport: kept-alive connections with TCP_NODELAY set."""

from __future__ import annotations

import socket

import httpx

from modelyard.client.http import default_transport


def test_connections_are_kept_alive_with_tcp_nodelay(scripted_server):
    with scripted_server() as server:
        transport = default_transport()
        with httpx.Client(transport=transport) as client:
            for _ in range(3):
                assert (
                    client.post(f"{server.url}/api/2.0/mlflow/runs/log-batch", json={}).status_code
                    == 200
                )
            # httpcore keeps the pooled connection; look at its socket (internal attributes).
            connections = transport._pool.connections
            assert len(connections) == 1  # one kept-alive connection served all three requests
            sock = connections[0]._connection._network_stream.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert len(server.accepted) == 3
