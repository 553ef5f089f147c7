"""The real tallyd binary for the Python tests of examples/: started on ports the kernel picks
(port 0 and --ports_file, as tests/e2e/tallyd_process.h does), scraped, stopped."""
import os
import subprocess
import tempfile
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def wait_for(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Tallyd:
    def __init__(self, *args):
        self.dir = tempfile.TemporaryDirectory(prefix="tallyd-example-")
        ports = os.path.join(self.dir.name, "ports")
        self.stderr = open(os.path.join(self.dir.name, "stderr"), "w+")
        self.process = subprocess.Popen(
            [os.environ["TALLYD_BINARY"], "--udp=127.0.0.1:0", "--prometheus_listen=127.0.0.1:0",
             f"--ports_file={ports}", *args],
            stdout=subprocess.DEVNULL, stderr=self.stderr)

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"tallyd exited {self.process.returncode}: {self.log()}")
            if not os.path.exists(ports):
                return None
            with open(ports) as f:  # written by a rename: whole or absent
                return f.read()

        self.addresses = {}
        for line in wait_for(ready, what="tallyd's ports file").splitlines():
            kind, address = line.split(" ", 1)
            self.addresses.setdefault(kind, address)
        self.udp_port = int(self.addresses["udp"].rsplit(":", 1)[1])

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def scrape(self):
        """/metrics parsed by prometheus_client: {family name: Metric}."""
        with urllib.request.urlopen(f"http://{self.addresses['prometheus']}/metrics") as r:
            text = r.read().decode("utf-8")
        return {f.name: f for f in text_string_to_metric_families(text)}

    def stop(self):
        self.process.terminate()
        status = self.process.wait(timeout=30)
        self.stderr.close()
        self.dir.cleanup()
        return status
