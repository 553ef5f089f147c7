#!/usr/bin/python3
"""examples/flask against the real tallyd: requests through Flask's test client, then the
per-route summaries on /metrics, read by prometheus_client's parser."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "flask"))
sys.path.insert(0, HERE)

from tallyd_process import Tallyd, wait_for  # noqa: E402


def samples(family, suffix="", **labels):
    """The samples of `family` (name + suffix) whose labels include `labels`."""
    name = family.name + suffix
    return [s for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


class FlaskExampleTest(unittest.TestCase):
    def setUp(self):
        self.tallyd = Tallyd("--flush_interval=200ms")
        os.environ.update(STATSD_PORT=str(self.tallyd.udp_port), APP_NAME="shop",
                          APP_STAGE="test")
        import app

        self.app = app.create_app()
        self.app.testing = False  # a failing handler answers 500, as in production
        self.app.logger.disabled = True  # /boom's traceback is expected
        self.client = self.app.test_client()

    def tearDown(self):
        self.assertEqual(self.tallyd.stop(), 0)

    def get(self, path, status):
        response = self.client.get(path)
        self.assertEqual(response.status_code, status, path)
        response.close()

    def scrape_when(self, family, suffix, count, **labels):
        """/metrics once `family` has a summary whose _count for `labels` is `count`."""
        def done():
            metrics = self.tallyd.scrape()
            found = family in metrics and samples(metrics[family], suffix, **labels)
            return metrics if found and found[0].value == count else None
        return wait_for(done, what=f"{family}{suffix}{labels} == {count}")

    def test_per_route_summaries(self):
        for user_id in (1, 2, 3):
            self.get(f"/users/{user_id}", 200)
        self.get("/users/99", 404)
        self.get("/", 200)
        self.get("/", 200)
        self.get("/no/such/page", 404)
        self.get("/report", 200)
        self.get("/boom", 500)

        base = {"app": "shop", "stage": "test", "http_method": "GET"}
        users = dict(base, route="/users/<int:user_id>", http_status_code="200")
        metrics = self.scrape_when("flask_request_duration", "_count", 3, **users)
        # The other requests were in the same datagrams' flushes or earlier ones: await each.
        expected = [
            (dict(base, route="/users/<int:user_id>", http_status_code="404"), 1),
            (dict(base, route="/", http_status_code="200"), 2),
            (dict(base, route="unmatched", http_status_code="404"), 1),
            (dict(base, route="/report", http_status_code="200"), 1),
            (dict(base, route="/boom", http_status_code="500"), 1),
        ]
        for labels, count in expected:
            metrics = self.scrape_when("flask_request_duration", "_count", count, **labels)
        duration, cpu = metrics["flask_request_duration"], metrics["flask_request_cpu"]
        self.assertEqual(duration.type, "summary")

        # One series per route, never per id: no label value holds a raw path.
        routes = {s.labels["route"] for s in duration.samples}
        self.assertEqual(routes, {"/users/<int:user_id>", "/", "unmatched", "/report", "/boom"})
        # CPU time: the same requests, the same tags.
        for labels, count in expected + [(users, 3)]:
            metrics = self.scrape_when("flask_request_cpu", "_count", count, **labels)
        cpu = metrics["flask_request_cpu"]
        self.assertEqual({s.labels["route"] for s in cpu.samples}, routes)

        # Milliseconds in, seconds out: /report sleeps 50 ms, so its wall time is at least
        # 0.05 s and under a few seconds (a client sending seconds would show 0.00005).
        report = dict(base, route="/report", http_status_code="200")
        wall = samples(duration, "", quantile="0.5", **report)[0].value
        self.assertGreaterEqual(wall, 0.05)
        self.assertLess(wall, 5)
        # ... and almost none of that is CPU.
        self.assertLess(samples(cpu, "", quantile="0.5", **report)[0].value, wall)
        self.assertGreater(samples(cpu, "_sum", **users)[0].value, 0)

        # The timed blocks, with the constant tags and their own.
        render = self.scrape_when("flask_report_render", "_count", 1, app="shop", stage="test")
        self.assertGreaterEqual(
            samples(render["flask_report_render"], "_sum", app="shop")[0].value, 0.05)
        self.scrape_when("flask_db_query", "_count", 4, app="shop", stage="test", table="users")


if __name__ == "__main__":
    unittest.main(verbosity=2)
