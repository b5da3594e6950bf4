"""The sandbox's S3 endpoint: moto's server in a thread of the owning process, with real
authentication (an IAM user and its access key: wrong credentials are refused as by AWS).

`ThreadedMotoServer.stop()` shuts the server down without closing its socket, and `start()` on a
busy port waits forever; this wrapper closes the socket and bounds the wait, so the endpoint can
be stopped and started again on the same port (the objects live in the process, they survive).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

BUCKET = "sergas-backups"
REGION = "eu-west-1"  # outside us-east-1 CreateBucket needs a LocationConstraint
USER = "sergas-backup"
LIFECYCLE_DAYS = 90


class S3Server:
    def __init__(self) -> None:
        self.port = 0
        self.access_key_id = ""
        self.secret_access_key = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._revoked: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def is_running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Start (first time: on a kernel-chosen port, then bootstrap); later: on the same port."""
        if self._server is not None:
            return
        from moto.moto_server.threaded_moto_server import MotoRequestHandler  # type: ignore[attr-defined]
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request lines on stderr
        app = DomainDispatcherApplication(create_backend_app)
        # make_server binds in this thread: a busy port raises here instead of hanging.
        server = make_server("127.0.0.1", self.port, app, True, request_handler=MotoRequestHandler)
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="sandbox-s3", daemon=True)
        self._thread.start()
        if not self.access_key_id:
            self._bootstrap()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = None

    def client(self, service: str = "s3") -> Any:
        return client(self.endpoint, self.access_key_id or "bootstrap", self.secret_access_key or "bootstrap", service)

    def _bootstrap(self) -> None:
        """An IAM user allowed everything on S3, its key, the bucket with a 90-day lifecycle rule;
        then moto checks every request's signature against that key."""
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin

        iam = self.client("iam")
        iam.create_user(UserName=USER)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName=USER, PolicyName="backups", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=USER)["AccessKey"]
        self.access_key_id, self.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        s3 = self.client()
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_lifecycle_configuration(
            Bucket=BUCKET,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "database-backups-90d",
                        "Filter": {"Prefix": "database/"},
                        "Status": "Enabled",
                        "Expiration": {"Days": LIFECYCLE_DAYS},
                    }
                ]
            },
        )
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # process-wide: from now on, signatures count
        ActionAuthenticatorMixin.request_count = 0

    # --- faults -------------------------------------------------------------------------------
    def revoke_key(self) -> None:
        """The access key the environment holds is deleted on the server (rotated away)."""
        user = self._iam_user()
        self._revoked = [k for k in user.access_keys if k.access_key_id == self.access_key_id]
        user.access_keys = [k for k in user.access_keys if k.access_key_id != self.access_key_id]

    def restore_key(self) -> None:
        if self._revoked:
            self._iam_user().access_keys.extend(self._revoked)
        self._revoked = None

    def _iam_user(self) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.iam.models import iam_backends

        return iam_backends[DEFAULT_ACCOUNT_ID]["aws"].get_user(USER)


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
        thread.join(60)
        if thread.is_alive():
            raise RuntimeError("the S3 endpoint (moto) did not start within 60 s")
        if errors:
            raise errors[0]

    return join


def client(endpoint: str, access_key_id: str, secret_access_key: str, service: str = "s3") -> Any:
    """A client of the sandbox's endpoint (bounded timeouts, no retries)."""
    return boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=REGION
    ).client(
        service,
        endpoint_url=endpoint,
        config=Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 1},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
        ),
    )
