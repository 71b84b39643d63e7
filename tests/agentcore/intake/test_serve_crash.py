"""`agentcore serve` as a process, killed with SIGKILL mid-load and started again:
every request it accepted is answered, every callback delivered, none under two
delivery ids (the receiver, like any, dedupes by the id it records)."""

from __future__ import annotations

import asyncio
import signal

import httpx2

from agentcore.credentials import KeyringCredentials
from tests.agentcore.intake.receiver import Receiver
from tests.processes import serve_process

N = 60


async def test_kill_9_mid_load_then_restart_loses_and_repeats_nothing(settings, tmp_path):
    KeyringCredentials().set("intake-webhook-secret", "crash-secret")
    receiver = Receiver("crash-secret")
    url = await receiver.start()
    settings.intake.callbacks = {"api": url}
    settings.intake.retry_base_s = 0.1
    settings.intake.retry_cap_s = 0.5
    path = tmp_path / "settings.json"
    settings.save(path)
    bodies = [{"text": f"where is my order {1000 + i}?", "customer_id": 1 + i % 50,
               "external_id": f"msg-{i}"} for i in range(N)]
    accepted: dict[str, str] = {}  # external id -> request id, as the client was told
    half = asyncio.Event()  # half the load accepted: the kill lands mid-load
    proc, base = await serve_process(path, tmp_path / "keyring.json")
    try:
        async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
            async def post(body: dict[str, object]) -> None:
                try:
                    reply = await http.post("/v1/requests", json=body)
                except httpx2.HTTPError:
                    return  # cut off by the kill: this client will redeliver
                if reply.status_code in (200, 202):
                    accepted[str(body["external_id"])] = reply.json()["id"]
                    if len(accepted) >= N // 2:
                        half.set()

            posting = [asyncio.create_task(post(b)) for b in bodies]
            await half.wait()
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)
            await asyncio.gather(*posting)
        assert 0 < len(accepted) < N or len(accepted) == N
        proc, base = await serve_process(path, tmp_path / "keyring.json")
        async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
            for body in bodies:  # a client that got no answer sends again, same message id
                reply = await http.post("/v1/requests", json=body, headers={"Prefer": "wait=10"})
                assert reply.status_code in (200, 202), reply.text
                rid = reply.json()["id"]
                # What was accepted before the kill is the same request now.
                assert accepted.setdefault(str(body["external_id"]), rid) == rid
            for rid in accepted.values():
                got = await http.get(f"/v1/requests/{rid}", headers={"Prefer": "wait=10"})
                assert got.json()["status"] in ("answered", "escalated"), got.text
        for _ in range(400):
            if {b["request"]["id"] for _, b in receiver.deliveries} >= set(accepted.values()):
                break
            await asyncio.sleep(0.05)
        delivered: dict[str, set[str]] = {}
        for delivery_id, body in receiver.deliveries:
            delivered.setdefault(body["request"]["id"], set()).add(delivery_id)
        assert set(delivered) == set(accepted.values())  # every callback, no stray one
        assert all(len(ids) == 1 for ids in delivered.values())  # one delivery id each
        assert receiver.bad_signatures == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        await receiver.close()
