"""A real S3-compatible server for tests: moto in server mode, behind a proxy that can go down.

    s3_server.down()   # every connection is refused/cut: S3 "unavailable"
    s3_server.up()

`s3_documents` points this process's "documents" storage (settings.STORAGES) at the server with a
bucket of the test's own; `s3_server.worker_env(bucket)` gives the same to a child process (Celery
worker, Daphne) through the environment variables settings.py reads (CHATTER_S3_BUCKET,
AWS_S3_ENDPOINT_URL, AWS_*). Loaded from tests/scribe/conftest.py; move it into the root
conftest's pytest_plugins when another app needs it.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.flaky_proxy import FlakyProxy
from tests.support.processes import ManagedProcess, child_env, free_port

START_TIMEOUT = 120.0  # a deadline: a server that answers is used at once (imports take long under load)
ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


@dataclass
class S3Server:
    direct_url: str
    proxy: FlakyProxy
    buckets: list[str] = field(default_factory=list)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def down(self) -> None:
        self.proxy.down()

    def up(self) -> None:
        self.proxy.up()

    def client(self):
        """A boto3 client straight to the server (not through the proxy): what the test inspects."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.direct_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        bucket = f"chatter-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        self.buckets.append(bucket)
        return bucket

    def storage_settings(self, bucket: str) -> dict:
        from botocore.config import Config

        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": self.endpoint_url,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "region_name": REGION,
                # Fail fast while the proxy is down: the scribe's own retries are what is under test.
                "client_config": Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5),
            },
        }

    def worker_env(self, bucket: str) -> dict[str, str]:
        return {
            "CHATTER_S3_BUCKET": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_MAX_ATTEMPTS": "2",
            "AWS_RETRY_MODE": "standard",
        }


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/moto-api/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    base: Path = tmp_path_factory.mktemp("s3")
    port = free_port()
    env = child_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION)
    process = ManagedProcess(f"moto-{port}", ["moto_server", "-H", "127.0.0.1", "-p", str(port)], env, base)
    direct = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(direct):
            if process.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start:\n{process.log_tail()}")
            time.sleep(0.1)
        proxy = FlakyProxy(port)
        try:
            yield S3Server(direct_url=direct, proxy=proxy)
        finally:
            proxy.close()
    finally:
        process.stop()


@pytest.fixture
def s3_server(s3_server_session: S3Server) -> Iterator[S3Server]:
    s3_server_session.up()
    yield s3_server_session
    s3_server_session.up()


@pytest.fixture
def s3_documents(s3_server: S3Server, settings) -> str:
    """This process's "documents" storage on a fresh bucket of the test S3 server; returns the bucket."""
    bucket = s3_server.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "documents": s3_server.storage_settings(bucket)}
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    return bucket
