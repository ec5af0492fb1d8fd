"""Grants on a registered model follow it: a rename carries every holder's grant to the new name,
and a deleted model's grants go with it, so a new model of the same name starts closed."""

from __future__ import annotations

import uuid

import authz_world as w

API = "/api/2.0/mlflow"


def _get(world: w.AuthWorld, user: str, name: str) -> int:
    with world.client(user) as client:
        return client.get(f"{API}/registered-models/get", params={"name": name}).status_code


def _grant_read(world: w.AuthWorld, owner: str, name: str, user: str) -> None:
    with world.client(owner) as client:
        made = client.post(
            f"{API}/registered-models/permissions/create",
            json={"name": name, "username": user, "permission": "READ"},
        )
    assert made.status_code == 200, made.text


def test_a_rename_carries_every_grant_to_the_new_name(auth_world: w.AuthWorld) -> None:
    world = auth_world
    old, new = f"lifecycle-{uuid.uuid4().hex}", f"renamed-{uuid.uuid4().hex}"
    with world.client("alice") as alice:
        assert alice.post(f"{API}/registered-models/create", json={"name": old}).status_code == 200
    _grant_read(world, "alice", old, "carol")
    assert _get(world, "carol", old) == 200
    assert _get(world, "dave", old) == 403

    with world.client("alice") as alice:
        renamed = alice.post(f"{API}/registered-models/rename", json={"name": old, "new_name": new})
    assert renamed.status_code == 200, renamed.text
    assert _get(world, "carol", new) == 200  # carol's READ moved with the model
    assert _get(world, "alice", new) == 200  # and alice still manages it
    with world.client("alice") as alice:
        tagged = alice.post(
            f"{API}/registered-models/set-tag", json={"name": new, "key": "k", "value": "v"}
        )
    assert tagged.status_code == 200, tagged.text
    assert _get(world, "dave", new) == 403
    with world.client("carol") as carol:  # READ does not rename
        refused = carol.post(f"{API}/registered-models/rename", json={"name": new, "new_name": old})
    assert refused.status_code == 403


def test_a_deleted_models_grants_do_not_open_a_new_model_of_its_name(
    auth_world: w.AuthWorld,
) -> None:
    world = auth_world
    name = f"reused-{uuid.uuid4().hex}"
    with world.client("alice") as alice:
        assert alice.post(f"{API}/registered-models/create", json={"name": name}).status_code == 200
    _grant_read(world, "alice", name, "carol")
    assert _get(world, "carol", name) == 200
    with world.client("alice") as alice:
        deleted = alice.request("DELETE", f"{API}/registered-models/delete", json={"name": name})
    assert deleted.status_code == 200, deleted.text

    with world.client("bob") as bob:  # someone else takes the free name
        assert bob.post(f"{API}/registered-models/create", json={"name": name}).status_code == 200
    assert _get(world, "bob", name) == 200
    assert _get(world, "carol", name) == 403  # carol's old grant went with the deleted model
    assert _get(world, "alice", name) == 403
