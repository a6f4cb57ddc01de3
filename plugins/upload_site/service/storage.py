"""Where uploaded bytes live: a storage interface with a local-folder and an S3 backend.

Keys are random (``secrets.token_hex(32)``), never derived from what the uploader called
the file. The local backend keeps files under the instance folder, outside anything the
web server serves; the S3 backend (any S3-compatible service, through boto3) lets several
machines share them.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app

CHUNK = 64 * 1024


class StorageError(RuntimeError):
    """The storage backend cannot keep or give back a file."""


class StoredFileMissing(StorageError):
    """The store answers, but holds no file under that key."""


class Storage(Protocol):
    name: str

    def staging_dir(self) -> Path:
        """A folder for uploads in progress (on the same disk as the files, when local)."""

    def save(self, key: str, staged: Path) -> None:
        """Keep the staged file under ``key``; the staged file is consumed."""

    def chunks(self, key: str) -> Iterator[bytes]:
        """The file's bytes, a chunk at a time."""

    def remove(self, key: str) -> None:
        """Forget a file (only for one whose row never committed)."""


def new_key() -> str:
    return secrets.token_hex(32)


class LocalStorage:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise StorageError("not a storage key")
        return self.root / key[:2] / key

    def staging_dir(self) -> Path:
        folder = self.root / "incoming"
        folder.mkdir(exist_ok=True, mode=0o700)
        return folder

    def save(self, key: str, staged: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(exist_ok=True, mode=0o700)
        os.replace(staged, target)  # same disk as the staging folder: atomic, no copy
        target.chmod(0o600)

    def chunks(self, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise StoredFileMissing("the stored file is missing") from exc
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def remove(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    name = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str, staging: Path) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.staging = staging

    def staging_dir(self) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.staging

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def save(self, key: str, staged: Path) -> None:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(
                str(staged),
                self.bucket,
                self._key(key),
                ExtraArgs={"ContentType": "application/octet-stream"},
            )
        except (Boto3Error, BotoCoreError, ClientError) as exc:
            raise StorageError(f"the file store did not take the file: {exc}") from exc
        finally:
            staged.unlink(missing_ok=True)

    def chunks(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise StoredFileMissing("the stored file is missing") from exc
            raise StorageError(f"the file store did not give the file back: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"the file store did not give the file back: {exc}") from exc
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def remove(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def _build(app: Flask) -> Storage:
    config = app.config
    kind = str(config["UPLOAD_SITE_STORAGE"]).strip().lower()
    local_root = Path(config["UPLOAD_SITE_LOCAL_DIR"] or Path(app.instance_path) / "upload_site")
    if kind == "local":
        return LocalStorage(local_root)
    if kind == "s3":
        import boto3

        if not config["UPLOAD_SITE_S3_BUCKET"]:
            raise ValueError("UPLOAD_SITE_STORAGE is s3 but UPLOAD_SITE_S3_BUCKET is empty")
        client = boto3.client(
            "s3",
            endpoint_url=config["UPLOAD_SITE_S3_ENDPOINT_URL"] or None,
            region_name=config["UPLOAD_SITE_S3_REGION"] or None,
            aws_access_key_id=config["UPLOAD_SITE_S3_ACCESS_KEY"] or None,
            aws_secret_access_key=config["UPLOAD_SITE_S3_SECRET_KEY"] or None,
        )
        return S3Storage(
            client,
            config["UPLOAD_SITE_S3_BUCKET"],
            config["UPLOAD_SITE_S3_PREFIX"],
            Path(tempfile.gettempdir()) / f"upload_site-{os.getuid()}",
        )
    raise ValueError(f"UPLOAD_SITE_STORAGE must be 'local' or 's3', not {kind!r}")


def init_storage(app: Flask) -> None:
    """At boot: a misconfigured store fails the plugin there, not at the first upload."""
    app.extensions["upload_site.storage"] = _build(app)


def storage() -> Storage:
    found: Storage = current_app.extensions["upload_site.storage"]
    return found


def discard(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


__all__ = [
    "CHUNK",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StorageError",
    "StoredFileMissing",
    "discard",
    "init_storage",
    "new_key",
    "storage",
]
