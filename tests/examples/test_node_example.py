#!/usr/bin/python3
"""examples/node (hot-shots) against the real tallyd: requests over HTTP to the app, then the
per-route summaries on /metrics, read by prometheus_client's parser.

hot-shots comes from npm, pinned by examples/node/package.json, installed once into
$TALLYD_NODE_PREFIX (the build folder). When npm cannot install it (no registry) the test
exits 77, which ctest reports as skipped, saying why."""
import json
import os
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "node"))
sys.path.insert(0, HERE)

from tallyd_process import Tallyd, wait_for  # noqa: E402

SKIP = 77


def install_hot_shots(prefix):
    version = json.load(open(os.path.join(EXAMPLE, "package.json")))["dependencies"]["hot-shots"]
    installed = os.path.join(prefix, "node_modules", "hot-shots", "package.json")
    if os.path.exists(installed) and json.load(open(installed))["version"] == version:
        return os.path.join(prefix, "node_modules")
    os.makedirs(prefix, exist_ok=True)
    r = subprocess.run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund",
                        "--no-save", "--omit=optional", f"hot-shots@{version}"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        print(f"SKIP: npm could not install hot-shots@{version}:\n{r.stderr[-2000:]}")
        sys.exit(SKIP)
    return os.path.join(prefix, "node_modules")


class NodeExampleTest(unittest.TestCase):
    node_path = None

    def setUp(self):
        self.tallyd = Tallyd("--flush_interval=200ms")
        env = dict(os.environ, NODE_PATH=self.node_path, STATSD_PORT=str(self.tallyd.udp_port),
                   APP_NAME="shop", APP_STAGE="test", PORT="0")
        self.app = subprocess.Popen(["node", os.path.join(EXAMPLE, "app.js")], env=env,
                                    stdout=subprocess.PIPE, text=True)
        line = self.app.stdout.readline()
        self.assertTrue(line.startswith("listening on "), line)
        self.port = int(line.split()[-1])

    def tearDown(self):
        self.app.terminate()
        self.assertEqual(self.app.wait(timeout=10), 0)
        self.app.stdout.close()
        self.assertEqual(self.tallyd.stop(), 0)

    def get(self, path, status):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}") as r:
                got = r.status
        except urllib.error.HTTPError as e:
            got = e.code
        self.assertEqual(got, status, path)

    def count(self, family, count, **labels):
        """/metrics once the summary `family` has `count` samples for `labels`."""
        def done():
            metrics = self.tallyd.scrape()
            found = family in metrics and [
                s for s in metrics[family].samples if s.name == family + "_count" and
                all(s.labels.get(k) == v for k, v in labels.items())]
            return metrics if found and found[0].value == count else None
        return wait_for(done, what=f"{family}_count{labels} == {count}")

    def test_per_route_summaries(self):
        for user_id in (1, 2, 3):
            self.get(f"/users/{user_id}", 200)
        self.get("/users/99", 404)
        self.get("/", 200)
        self.get("/no/such/page", 404)
        self.get("/report", 200)
        self.get("/boom", 500)
        base = {"app": "shop", "stage": "test", "http_method": "GET"}
        for route, status, count in [("/users/{id}", "200", 3), ("/users/{id}", "404", 1),
                                     ("/", "200", 1), ("unmatched", "404", 1),
                                     ("/report", "200", 1), ("/boom", "500", 1)]:
            metrics = self.count("node_request_duration", count, route=route,
                                 http_status_code=status, **base)
        duration = metrics["node_request_duration"]
        self.assertEqual({s.labels["route"] for s in duration.samples},
                         {"/users/{id}", "/", "unmatched", "/report", "/boom"})
        # Milliseconds in, seconds out: /report waits 50 ms.
        report = [s for s in duration.samples if s.labels.get("route") == "/report"
                  and s.labels.get("quantile") == "0.5"]
        self.assertGreaterEqual(report[0].value, 0.049)
        self.assertLess(report[0].value, 5)
        self.count("node_db_query", 4, table="users", app="shop")
        self.count("node_report_render", 1, app="shop")


if __name__ == "__main__":
    default_prefix = os.path.join(EXAMPLE, "..", "..", "build", "examples-node")
    NodeExampleTest.node_path = install_hot_shots(os.environ.get("TALLYD_NODE_PREFIX",
                                                                 default_prefix))
    unittest.main(verbosity=2)
