"""Rate limits (A7): per caller and per IP, 429 with Retry-After, shared through Redis."""

from __future__ import annotations

import urllib.error
import urllib.request

from crmsync.sync_service.web.app import create_app
from tests.conftest import Cli, load_sample_crm
from tests.servers.redis import RedisServer
from tests.servers.served import served

MARIA = "maria.lopez@northwind.example"
WEI = "wei.zhang@northwind.example"
LOOKUP = "/api/v1/lookup?address=ana.ruiz@acme.example"


def test_a_caller_beyond_the_limit_gets_429_with_retry_after(cli: Cli) -> None:
    load_sample_crm(cli)
    app = create_app({"TESTING": True, "DATABASE_URL": cli.env["CRMSYNC_DATABASE_URL"],
                      "RATE_LIMIT_PER_USER": "5/minute", "RATE_LIMIT_PER_IP": "8/minute"})
    client = app.test_client()
    maria = {"Authorization": "Bearer " + cli("apikey", "create", MARIA).output.strip()}
    wei = {"Authorization": "Bearer " + cli("apikey", "create", WEI).output.strip()}
    try:
        assert [client.get(LOOKUP, headers=maria).status_code for _ in range(5)] == [200] * 5
        refused = client.get(LOOKUP, headers=maria)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0 and "error" in refused.json
        # Another caller has a limit of their own, until the address's limit is reached.
        assert [client.get(LOOKUP, headers=wei).status_code for _ in range(2)] == [200] * 2
        assert client.get(LOOKUP, headers=wei).status_code == 429
        # Guessing keys is limited by address, whatever key each guess presents.
        guesses = [client.get(LOOKUP, headers={"Authorization": f"Bearer crm_guess{i}"})
                   for i in range(3)]
        assert {g.status_code for g in guesses} == {429}
        assert client.get("/healthz").status_code == 200  # health checks are never limited
    finally:
        app.extensions["crmsync"].dispose()


def _status(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        refused.close()
        return refused.code


def test_two_api_processes_share_one_limit_through_redis(
    cli: Cli, redis: RedisServer
) -> None:
    load_sample_crm(cli)
    key = cli("apikey", "create", MARIA).output.strip()
    env = {**cli.env, "CRMSYNC_RATE_LIMIT_STORAGE_URL": redis.url,
           "CRMSYNC_RATE_LIMIT_PER_USER": "6/minute"}
    with served(env) as first, served(env) as second:
        statuses = [_status(f"{(first, second)[i % 2]}{LOOKUP}", key) for i in range(8)]
    assert statuses == [200] * 6 + [429] * 2  # three each, then both refuse
    stored = b" ".join(redis.keys())
    assert key.encode() not in stored and key[4:20].encode() not in stored
