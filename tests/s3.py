"""A real S3-compatible server for tests: moto in server mode on 127.0.0.1, which can be stopped and restarted.

The stored objects live in this test process, so a restart on the same port keeps them, as a real
store's outage would.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable

import pyarrow.fs as pafs

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true"}


class S3Server:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server_class = ThreadedMotoServer
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._server = None
        self.start()
        self.fs = pafs.S3FileSystem(endpoint_override=self.endpoint, scheme="http", region="us-east-1",
                                    access_key="test", secret_key="test", allow_bucket_creation=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach the server: credentials (a URI carries the endpoint)."""
        return dict(CREDENTIALS)

    def uri(self, path: str) -> str:
        """s3://PATH on this server, its connection options in the query (as a user would write it)."""
        return f"s3://{path}?endpoint_override={self.endpoint}&scheme=http&region=us-east-1"

    def bucket(self, name: str) -> str:
        self.fs.create_dir(name)
        return name

    def start(self) -> None:
        self._server = self._server_class(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def files(self, path: str) -> list[str]:
        """Every file under `path`, relative to it ([] when the server is down or nothing is there)."""
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        except OSError:
            return []
        return sorted(i.path[len(path) + 1:] for i in infos if i.type == pafs.FileType.File)

    def trials_with_checkpoints(self, experiment: str) -> set[str]:
        """Trial folders of the experiment at `experiment` that hold a checkpoint in the store."""
        return {f.split("/")[0] for f in self.files(experiment) if "/checkpoint_" in f}

    def read_text(self, path: str) -> str:
        with self.fs.open_input_stream(path) as stream:
            return stream.read().decode()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def set_credentials() -> dict[str, str | None]:
    """Put the test credentials in this process's environment; returns what was there before."""
    before = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    return before
