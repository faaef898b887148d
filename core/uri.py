"""Storage locations: a local folder, or a pyarrow filesystem URI such as s3://bucket/prefix.

An S3-compatible server's options ride in the URI's query, as pyarrow reads them
(`s3://sweeps/exp?endpoint_override=127.0.0.1:9000&scheme=http&region=us-east-1`), so one string names
the place on every node. `join` keeps the query at the end; `open_location` adds a patient retry policy,
so a store that restarts for a few seconds costs retries, not the sweep. The policy survives pickling,
which is how Ray hands the filesystem to every trial on every node (pyarrow's own pickle drops it).
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pyarrow.fs as pafs

from core.schema import ConfigError

S3_ATTEMPTS = 10
"""Attempts per S3 request (AWS standard retry, backoff doubling up to 20 s: about 70 s before giving up)."""


def is_uri(location: str) -> bool:
    return "://" in str(location)


def join(location: str, *parts: str) -> str:
    """`location/part/...`; for a URI the parts go into its path, before its query."""
    if not is_uri(location):
        return "/".join([str(location).rstrip("/"), *parts])
    split = urlsplit(location)
    return urlunsplit(split._replace(path="/".join([split.path.rstrip("/"), *parts])))


def without_query(location: str) -> str:
    """The location for messages, listings, files and folder names: the URI without its connection options
    and without any credentials (`s3://KEY:SECRET@bucket/x` -> `s3://bucket/x`)."""
    if not is_uri(location):
        return str(location)
    split = urlsplit(location)
    return urlunsplit(split._replace(netloc=split.netloc.rpartition("@")[2], query=""))


CREDENTIAL_OPTIONS = ("access_key", "secret_key", "session_token")
"""Query options pyarrow reads as credentials."""


def has_credentials(location: str) -> bool:
    """True when a URI carries credentials (user info, or an access/secret key or token in its query)."""
    if not is_uri(location):
        return False
    split = urlsplit(location)
    return "@" in split.netloc or any(name in CREDENTIAL_OPTIONS for name, _ in parse_qsl(split.query))


def check_no_credentials(field: str, location: str) -> None:
    """Refuse a URI that carries credentials: it would be written into sweep.yaml, sweep.json, trial configs,
    reports and packages. Credentials come from the environment (AWS_ACCESS_KEY_ID, ..., or a profile)."""
    if has_credentials(location):
        raise ConfigError(field, without_query(location), "carries credentials (user info or an access_key/"
                          "secret_key/session_token option), which would be written into the experiment's files: "
                          "remove them and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a profile) instead")


def open_location(location: str, attempts: int = S3_ATTEMPTS) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path on it; raises ValueError (pyarrow's ArrowInvalid) or OSError when unusable.

    `attempts` per S3 request: fewer for a quick check that should fail fast (a wrong endpoint).
    """
    if not is_uri(location):
        return pafs.LocalFileSystem(), str(location)
    filesystem, path = pafs.FileSystem.from_uri(location)
    if isinstance(filesystem, pafs.S3FileSystem):
        _, (options,) = filesystem.__reduce__()  # every constructor argument from_uri resolved
        filesystem = PatientS3FileSystem(options, attempts)
    return filesystem, path


class PatientS3FileSystem(pafs.S3FileSystem):
    """pyarrow's S3 filesystem with `attempts` per request, kept when pickled to a trial's worker."""

    def __init__(self, options: dict, attempts: int):
        super().__init__(**options, retry_strategy=pafs.AwsStandardS3RetryStrategy(attempts))
        self.options, self.attempts = options, attempts

    def __reduce__(self):
        return PatientS3FileSystem, (self.options, self.attempts)
