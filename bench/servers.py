"""The processes under load: the product (``backoffice run``), the bare reference, nginx."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import die_with_parent, stop_process, wait_until_healthy
from core.testing import PRACTICE_CODE
from tests.conftest import ROOT, LiveServer, free_port

#: The bench databases are the tests' (``make_db``): their practice code is already stored,
#: and the server honours the stored codes, not the configured one.
JOIN_CODE = PRACTICE_CODE
START_TIMEOUT = 60.0


@dataclass
class BenchServer(LiveServer):
    """A ``backoffice run`` process started in ``server_root`` (an older checkout, say)."""

    server_root: Path = ROOT
    startup_s: float = 0.0

    def start(self, timeout: float = START_TIMEOUT) -> BenchServer:
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.instance_dir / f"server-{self.port}.log"
        with self.log_path.open("ab") as log:
            began = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "core.cli", "run"],
                cwd=self.server_root,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        try:
            wait_until_healthy(self.process, self.url + "/health", timeout, "backoffice run")
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n{self.log()}") from None
        self.startup_s = time.monotonic() - began
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid


@dataclass
class BareServer:
    """``python -m bench.bare``: python-socketio alone, in the same async mode."""

    async_mode: str
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the bare server is not running"
        return self.process.pid

    def start(self, timeout: float = START_TIMEOUT) -> BareServer:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"bare-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.bare", self.async_mode, str(self.port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        try:
            wait_until_healthy(self.process, self.url + "/health", timeout, "bench.bare")
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


NGINX = Path("/usr/sbin/nginx")
NGINX_CONF = """\
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/temp/body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
    upstream backoffice {{
        ip_hash;
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backoffice;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 300s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    """A real nginx in front of ``upstreams`` (sticky by client address), non-daemon."""

    upstreams: list[str]
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        (self.folder / "temp").mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server {address};" for address in self.upstreams)
        path = self.folder / "nginx.conf"
        path.write_text(NGINX_CONF.format(dir=self.folder, servers=servers, port=self.port))
        return path

    def start(self, timeout: float = 20.0) -> Nginx:
        config = self.write_config()
        with (self.folder / "stdout.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(NGINX), "-p", str(self.folder), "-c", str(config), "-g", "daemon off;"],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        try:
            wait_until_healthy(self.process, self.url + "/health", timeout, "nginx")
        except RuntimeError as exc:
            self.stop()
            errors = (self.folder / "error.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n{errors}") from None
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
