"""S3 as the backup checks and actions reach it: a boto3 client with bounded timeouts, listings
and the facts judged (size, sha256 kept in metadata, age, lifecycle rules). No pytest here.

`upload_folder` copies a folder (the run archive) with every file's text masked on the way.

The ETag is not always an MD5 (multipart uploads end in `-N`, SSE-KMS ETags are opaque): a copy
is compared by size and by the sha256 the uploader keeps in the object's metadata.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sergas.config import S3Access

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import LifecycleRuleOutputTypeDef

SHA256_METADATA = "sha256"  # x-amz-meta-sha256, written by actions/backups.py


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing slash ("" for the bucket root)

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        return cls(parts.netloc, parts.path.strip("/"))

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    @property
    def list_prefix(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def below(self, path: str) -> S3Location:
        """The location `path` below this one (`s3://b/runs` below `demo/2026...`)."""
        return S3Location(self.bucket, self.key(path.strip("/")))


def make_client(
    *,
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    connect_timeout: float,
    read_timeout: float,
) -> S3Client:
    """A client that fails in bounded time: botocore's defaults are 60 s and several retries.

    Checksums only when an operation requires them: S3-compatible stores (older MinIO, Ceph)
    reject the CRC headers boto3 >= 1.36 sends by default. boto3 is imported here: a run whose
    checks reach no S3 store never loads it (botocore's errors below are imported where a
    client made here raised them).
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": 1, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    session = boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def client_of(section: S3Access, *, connect_timeout: float, read_timeout: float) -> S3Client:
    """`make_client` for an environment section's `s3_endpoint`, `s3_region` and `s3_*` keys."""
    return make_client(
        endpoint_url=section.s3_endpoint,
        region=section.s3_region,
        access_key_id=section.s3_access_key_id,
        secret_access_key=section.s3_secret_access_key,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def describe_error(exc: BaseException) -> str:
    """One line: the S3 error code and message, or the connection failure; never credentials."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = error.get("Message") or ""
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied", "ExpiredToken"):
            return f"S3 refused the credentials ({code}){': ' + message if message else ''}"
        return f"{code}: {message}".rstrip(": ")
    if isinstance(exc, BotoCoreError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, OSError) and cause.strerror:
                return cause.strerror[0].lower() + cause.strerror[1:]
            cause = cause.__cause__ or cause.__context__
        return str(exc).split(': "')[0]
    return str(exc)


class S3Unavailable(ConnectionError):
    """S3 could not be read; the message is `describe_error`'s one line."""


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    last_modified: dt.datetime

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def list_objects(client: S3Client, location: S3Location) -> list[S3Object]:
    """Objects directly under the prefix (one request per 1000 keys)."""
    from botocore.exceptions import BotoCoreError, ClientError

    found: list[S3Object] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=location.list_prefix, Delimiter="/"
        ):
            for item in page.get("Contents", []):
                found.append(S3Object(item["Key"], int(item["Size"]), item["LastModified"]))
    except (ClientError, BotoCoreError) as exc:
        raise S3Unavailable(describe_error(exc)) from None
    except KeyError as exc:
        raise S3Unavailable(f"listing of {location}: an object without {exc.args[0]}") from None
    return found


def probe(client: S3Client, location: S3Location) -> None:
    """One cheap authenticated request: raises S3Unavailable with the reason."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.list_objects_v2(Bucket=location.bucket, Prefix=location.list_prefix, MaxKeys=1)
    except (ClientError, BotoCoreError) as exc:
        raise S3Unavailable(describe_error(exc)) from None


@dataclass(frozen=True)
class ObjectHead:
    size: int
    last_modified: dt.datetime
    sha256: str | None
    etag: str


def head_object(client: S3Client, location: S3Location, name: str) -> ObjectHead | None:
    """The object's size, age and kept sha256; None when there is no such object."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        head = client.head_object(Bucket=location.bucket, Key=location.key(name))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise S3Unavailable(describe_error(exc)) from None
    except BotoCoreError as exc:
        raise S3Unavailable(describe_error(exc)) from None
    metadata = {k.lower(): v for k, v in head.get("Metadata", {}).items()}
    try:
        size, last_modified = int(head["ContentLength"]), head["LastModified"]
    except KeyError as exc:
        raise S3Unavailable(f"HEAD {location.key(name)}: answer without {exc.args[0]}") from None
    return ObjectHead(size, last_modified, metadata.get(SHA256_METADATA), head.get("ETag", ""))


def lifecycle_rules(client: S3Client, location: S3Location) -> list[LifecycleRuleOutputTypeDef]:
    """Enabled lifecycle rules with an expiration that apply to the prefix."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=location.bucket).get("Rules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise S3Unavailable(describe_error(exc)) from None
    except BotoCoreError as exc:
        raise S3Unavailable(describe_error(exc)) from None
    covering = []
    for rule in rules:
        if rule.get("Status") != "Enabled" or "Expiration" not in rule:
            continue
        rule_filter = rule.get("Filter", {})
        prefix = rule_filter.get("Prefix", rule_filter.get("And", {}).get("Prefix", rule.get("Prefix", "")))
        if location.list_prefix.startswith(prefix or ""):
            covering.append(rule)
    return covering


def upload_folder(
    client: S3Client, location: S3Location, folder: Path, *, mask: Callable[[str], str], skip: tuple[str, ...] = ()
) -> list[str]:
    """Upload every file below `folder` (but folders named in `skip`) under `location`, keyed by
    its path relative to `folder`, and return the keys. Each file is masked first: its bytes read
    as UTF-8 (any other byte kept as is), `mask`ed, written back the same way: nothing unmasked
    leaves. Stops at the first failure: raises S3Unavailable with the reason."""
    from botocore.exceptions import BotoCoreError, ClientError

    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if set(skip) & set(path.relative_to(folder).parts[:-1]):
            continue
        relative = path.relative_to(folder).as_posix()
        body = mask(path.read_bytes().decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            client.put_object(Bucket=location.bucket, Key=location.key(relative), Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise S3Unavailable(describe_error(exc)) from None
        keys.append(location.key(relative))
    return keys
