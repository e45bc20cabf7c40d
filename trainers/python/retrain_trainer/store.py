"""The blob store, with the keys and URIs of the TypeScript side's storage/ (file:// and s3://)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Protocol

from .config import S3Settings

RESERVED_NAME_PREFIX = ".retrain-"
"""Names the file store keeps for itself (temp files, locks); no key segment may start with it."""


class InvalidKeyError(ValueError):
    """A key that is absolute, climbs with `..`, or uses a reserved name."""


def check_key(key: str) -> str:
    """The key, when it is relative, `/`-separated, without `..` and without reserved names."""
    if key == "" or key.startswith("/") or key.endswith("/"):
        raise InvalidKeyError(f"invalid store key {key!r}: relative and not ending in /")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKeyError(f"invalid store key {key!r}: empty, . or .. segment")
        if segment.startswith(RESERVED_NAME_PREFIX):
            raise InvalidKeyError(f"invalid store key {key!r}: names starting with {RESERVED_NAME_PREFIX} are reserved")
    return key


class BlobStore(Protocol):
    """What the trainer needs of a store: whole objects by key."""

    uri: str

    def get(self, key: str) -> bytes | None:
        """The object's bytes; None when the key does not exist."""
        ...

    def put(self, key: str, body: bytes) -> None:
        """Writes the whole object atomically: readers see the old or the new bytes, never a part."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key under `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None: ...

    def uri_for(self, key: str) -> str: ...


class FileBlobStore:
    """A directory; writes go to a temp file beside the key, fsynced, then renamed over it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.uri = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def uri_for(self, key: str) -> str:
        return f"file://{self._path(key)}"

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{RESERVED_NAME_PREFIX}tmp-{uuid.uuid4()}"
        try:
            with open(tmp, "xb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        folder = self.root / prefix[: prefix.rfind("/") + 1]
        if not folder.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(RESERVED_NAME_PREFIX)]
            for name in filenames:
                if not name.startswith(RESERVED_NAME_PREFIX):
                    keys.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return sorted(key for key in keys if key.startswith(prefix))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3BlobStore:
    """A bucket (and key prefix) through boto3, path-style like the TypeScript side's client; a put is atomic."""

    def __init__(self, bucket: str, prefix: str, settings: S3Settings) -> None:
        import boto3
        from botocore.config import Config as BotoConfig

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client: Any = boto3.client(
            "s3",
            region_name=settings.region,
            endpoint_url=settings.endpoint,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def get(self, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self._client.exceptions.NoSuchKey:
            return None
        body: bytes = response["Body"].read()
        return body

    def put(self, key: str, body: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)

    def list(self, prefix: str) -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base + prefix):
            keys.extend(item["Key"][len(base) :] for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_store(uri: str, s3: S3Settings | None = None) -> BlobStore:
    """The store a RETRAIN_STORE URI names: file://<dir> (relative to the working directory) or s3://bucket/prefix."""
    if uri.startswith("file://") and len(uri) > len("file://"):
        return FileBlobStore(uri[len("file://") :])
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://") :].strip("/").partition("/")
        if bucket == "":
            raise ValueError(f"invalid store URI {uri!r}: no bucket")
        return S3BlobStore(bucket, prefix, s3 or S3Settings(region="us-east-1"))
    raise ValueError(f"unsupported store URI {uri!r}: expected file://<dir> or s3://<bucket>[/prefix]")
