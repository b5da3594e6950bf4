"""The sandbox's S3 endpoint: moto's server as a child process of the owner, one per sandbox,
with real authentication (an IAM user and its access key: wrong credentials are refused as by
AWS).

moto keeps its backends and its authentication switch in module globals, so it cannot serve two
sandboxes in one Python process; a child process per sandbox isolates them (and dies with the
owner, see sandbox/processes.py). The child is `python -m moto.server`, unmodified:

- it starts with authentication off (INITIAL_NO_AUTH_ACTION_COUNT unset = infinite), so the
  bootstrap can create the IAM users, keys and the bucket; then `POST /moto-api/reset-auth 0`
  switches it on: from there every request's signature is checked against the IAM keys.
- the access key must survive a restart (the environment holds it): moto draws key material from
  one seedable generator, so the bootstrap seeds it (`/moto-api/seed`) with this sandbox's seed
  right before CreateAccessKey; a restart, or `restore_key` after `revoke_key`, does the same and
  gets the same key (checked: a different key is an error, never silently accepted).
- a restart of the same sandbox (`stop(save=True)`, the `s3_stopped` fault) keeps the bucket's
  state in `<root>/s3/snapshot/`: every object with its metadata, and the lifecycle rules,
  downloaded before the process is stopped and uploaded again after the bootstrap. (moto's
  recorder would replay CreateAccessKey unseeded and upload bodies inline; this is simpler to
  get right.) LastModified is the time of the re-upload, as after a real re-upload.
- an operator user (all actions allowed, its key never leaves the owner) does what the
  credentials fault and the snapshot need, whatever state the backup user's key is in.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.ports import free_port
from sandbox.processes import ChildServer

if TYPE_CHECKING:  # boto3-stubs[s3], a dev dependency; there are no IAM stubs: IAM clients are Any
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import LifecycleRuleTypeDef

BUCKET = "sergas-backups"
REGION: Final = "eu-west-1"  # outside us-east-1 CreateBucket needs a LocationConstraint
USER = "sergas-backup"
OPERATOR = "sandbox-operator"
LIFECYCLE_DAYS = 90
LIFECYCLE_RULES: list[LifecycleRuleTypeDef] = [
    {
        "ID": "database-backups-90d",
        "Filter": {"Prefix": "database/"},
        "Status": "Enabled",
        "Expiration": {"Days": LIFECYCLE_DAYS},
    }
]
START_TIMEOUT = 60.0  # the import of moto alone takes seconds on a loaded machine


class S3Server(ChildServer):
    """moto's server for one sandbox, under `<root>/s3` (log, snapshot)."""

    title = "the S3 endpoint (moto)"

    def __init__(self, root: Path) -> None:
        super().__init__(port=0, log_path=root / "s3" / "moto.log")  # the port: at the first launch
        self.dir = root / "s3"
        self.access_key_id = ""
        self.secret_access_key = ""
        self._operator: tuple[str, str] = ("bootstrap", "bootstrap")
        self._seed = secrets.randbelow(2**31)  # this sandbox's keys, the same after a restart
        self._revoked = False

    @property
    def endpoint(self) -> str:
        return self.url

    def _launch(self) -> None:
        """Start the process, the first time on a free port, later on the same one."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"}
        self._spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], cwd=self.dir, env=env
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        self._wait_until(lambda: self._moto_api("GET", "/moto-api/config")[0] == 201, timeout, interval=0.05)

    def start(self) -> None:
        """Start, bootstrap (users, keys, bucket, then authentication on) and, after a stop with
        `save=True`, bring back the bucket's objects and lifecycle rules."""
        if self.is_running():
            return
        self.launch()
        try:
            self.wait_ready()
            self._bootstrap()
            self._restore_snapshot()
            if self._revoked:  # stopped while revoked: stays revoked
                self._operator_iam().delete_access_key(UserName=USER, AccessKeyId=self.access_key_id)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, save: bool = False) -> None:
        """Stop the process; with `save`, keep the bucket's state for the next `start()` first."""
        if self._process is None:
            return
        try:
            if save and self.is_running():
                self._save_snapshot()
        finally:
            super().stop()
            self._process = None

    def client(self) -> S3Client:
        return client(self.endpoint, self.access_key_id or "bootstrap", self.secret_access_key or "bootstrap")

    # --- bootstrap ----------------------------------------------------------------------------
    def _bootstrap(self) -> None:
        """The backup user (everything on S3 allowed) and its key, the operator and its key, the
        bucket with a 90-day lifecycle rule; then moto checks every request's signature."""
        iam = iam_client(self.endpoint, "bootstrap", "bootstrap")
        s3_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        all_policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.create_user(UserName=USER)
        iam.put_user_policy(UserName=USER, PolicyName="backups", PolicyDocument=json.dumps(s3_policy))
        iam.create_user(UserName=OPERATOR)
        iam.put_user_policy(UserName=OPERATOR, PolicyName="operator", PolicyDocument=json.dumps(all_policy))
        self._operator = self._create_key(iam, OPERATOR, self._seed + 1)
        key = self._create_key(iam, USER, self._seed)
        if self.access_key_id and key != (self.access_key_id, self.secret_access_key):
            raise RuntimeError(f"the S3 endpoint (moto) made a different access key after a restart: {key[0]}")
        self.access_key_id, self.secret_access_key = key
        s3 = client(self.endpoint, "bootstrap", "bootstrap")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": LIFECYCLE_RULES})
        status, body = self._moto_api("POST", "/moto-api/reset-auth", b"0")
        if status != 200:
            raise RuntimeError(f"the S3 endpoint (moto) did not switch authentication on: {status} {body!r}")

    def _create_key(self, iam: Any, user: str, seed: int) -> tuple[str, str]:
        """A key whose material depends only on `seed` (moto's generator seeded just before)."""
        status, body = self._moto_api("POST", f"/moto-api/seed?a={seed}")
        if status != 200:
            raise RuntimeError(f"the S3 endpoint (moto) refused to seed its generator: {status} {body!r}")
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])

    def _moto_api(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """A request to moto's own API (not signed, no proxy)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _operator_client(self) -> S3Client:
        return client(self.endpoint, *self._operator)

    def _operator_iam(self) -> Any:
        return iam_client(self.endpoint, *self._operator)

    # --- snapshot across a restart ------------------------------------------------------------
    @property
    def _snapshot_dir(self) -> Path:
        return self.dir / "snapshot"

    def _save_snapshot(self) -> None:
        s3 = self._operator_client()
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for item in page.get("Contents", [])
        ]
        try:
            rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        shutil.rmtree(self._snapshot_dir, ignore_errors=True)
        self._snapshot_dir.mkdir(parents=True)

        def save(item: tuple[int, str]) -> dict[str, Any]:
            index, key = item
            obj = s3.get_object(Bucket=BUCKET, Key=key)
            (self._snapshot_dir / f"{index}.bin").write_bytes(obj["Body"].read())
            return {"key": key, "file": f"{index}.bin", "metadata": obj.get("Metadata", {})}

        with ThreadPoolExecutor(max_workers=8) as pool:
            objects = list(pool.map(save, enumerate(keys)))
        manifest = {"lifecycle_rules": rules, "objects": objects}
        (self._snapshot_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))

    def _restore_snapshot(self) -> None:
        manifest_path = self._snapshot_dir / "manifest.json"
        if not manifest_path.exists():
            return
        manifest = json.loads(manifest_path.read_text())
        s3 = self._operator_client()
        if manifest["lifecycle_rules"]:
            s3.put_bucket_lifecycle_configuration(
                Bucket=BUCKET, LifecycleConfiguration={"Rules": manifest["lifecycle_rules"]}
            )
        else:
            s3.delete_bucket_lifecycle(Bucket=BUCKET)

        def put(obj: dict[str, Any]) -> None:
            body = (self._snapshot_dir / obj["file"]).read_bytes()
            s3.put_object(Bucket=BUCKET, Key=obj["key"], Body=body, Metadata=obj["metadata"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(put, manifest["objects"]))
        shutil.rmtree(self._snapshot_dir, ignore_errors=True)

    # --- faults -------------------------------------------------------------------------------
    def revoke_key(self) -> None:
        """The access key the environment holds is deleted on the server (rotated away)."""
        if not self._revoked:
            self._operator_iam().delete_access_key(UserName=USER, AccessKeyId=self.access_key_id)
            self._revoked = True

    def restore_key(self) -> None:
        """The same key again (same seed, so the same material)."""
        if not self._revoked:
            return
        key = self._create_key(self._operator_iam(), USER, self._seed)
        if key != (self.access_key_id, self.secret_access_key):
            raise RuntimeError(f"the S3 endpoint (moto) made a different access key: {key[0]}")
        self._revoked = False


def start_in_background(server: S3Server) -> Callable[[], None]:
    """Start `server` in a helper thread (moto's import takes seconds: overlap it with initdb);
    the returned function waits for it and raises its error, if any."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.start()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="sandbox-s3-start", daemon=True)
    thread.start()

    def join() -> None:
        thread.join(START_TIMEOUT + 30)
        if thread.is_alive():
            raise RuntimeError(f"the S3 endpoint (moto) did not start within {START_TIMEOUT + 30:g} s")
        if errors:
            raise errors[0]

    return join


def client(endpoint: str, access_key_id: str, secret_access_key: str) -> S3Client:
    """An S3 client of the sandbox's endpoint (bounded timeouts, no retries)."""
    return _session(access_key_id, secret_access_key).client("s3", endpoint_url=endpoint, config=_config())


def iam_client(endpoint: str, access_key_id: str, secret_access_key: str) -> Any:
    """An IAM client of the sandbox's endpoint (bounded timeouts, no retries)."""
    return _session(access_key_id, secret_access_key).client("iam", endpoint_url=endpoint, config=_config())


def _session(access_key_id: str, secret_access_key: str) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=REGION
    )


def _config() -> Config:
    return Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 1},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
    )
