#!/usr/bin/python3
"""examples/grafana/tallyd.json: parsed as JSON; every PromQL expression (panel targets and the
label_values() of its variables) parsed by promtool, as recording rules; and every metric name
the expressions use is one the real tallyd serves on /metrics, fed by the Flask example, so a
renamed self-metric or example timer fails here.

Grafana's variables are not PromQL: before promtool reads an expression, `$__rate_interval`
(and the other `$__` intervals) become `5m` and a dashboard variable (`$instance`) becomes `.*`;
they only occur inside label matchers and ranges, where those are valid.

Metric names are taken from the expressions by a small documented scan, on the text promtool
accepted: string literals, label matchers `{...}`, ranges `[...]` and grouping clauses
`by (...)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left (...)`,
`group_right (...)` are removed; what is left that looks like an identifier and is neither
followed by `(` (a function or aggregation) nor a PromQL keyword is a metric name.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
DASHBOARD = os.path.join(ROOT, "examples", "grafana", "tallyd.json")
sys.path.insert(0, os.path.join(ROOT, "examples", "flask"))
sys.path.insert(0, HERE)

from tallyd_process import Tallyd, wait_for  # noqa: E402

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool", "inf", "nan", "atan2"}
# What the issue asks the dashboard to show, by the names tallyd exports.
REQUIRED = {"tallyd_packets_received_total", "tallyd_lines_rejected_total",
            "tallyd_udp_kernel_drops_total", "tallyd_series_active",
            "tallyd_flush_duration_seconds", "tallyd_backend_errors_total",
            "tallyd_backend_dropped_flushes_total", "flask_request_duration"}


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def expressions(dashboard):
    """(where, PromQL) for every panel target and every label_values() variable."""
    for p in panels(dashboard["panels"]):
        for t in p.get("targets", []):
            yield f"panel {p['title']!r} {t['refId']}", t["expr"]
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)", query)
            assert m, f"variable {v['name']}: not label_values(<selector>, <label>): {query}"
            yield f"variable {v['name']}", m.group(1)


def substitute(expr):
    expr = re.sub(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}",
                  "5m", expr)
    return re.sub(r"\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?", ".*", expr)


def metric_names(expr):
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![0-9A-Za-z_:.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[m.end():].lstrip().startswith("(") or m.group(0).lower() in KEYWORDS:
            continue
        names.add(m.group(0))
    return names


class GrafanaDashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD) as f:
            cls.dashboard = json.load(f)
        cls.exprs = list(expressions(cls.dashboard))

    def test_every_expression_parses_in_promtool(self):
        self.assertGreater(len(self.exprs), 10)
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:expr_{i}", "expr": substitute(e)}
            for i, (_, e) in enumerate(self.exprs)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            json.dump(rules, f)  # JSON is YAML
            f.flush()
            r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True,
                               text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"{len(self.exprs)} rules found", r.stdout)

    def test_every_metric_name_is_served_by_tallyd(self):
        used = {}
        for where, e in self.exprs:
            for name in metric_names(substitute(e)):
                used.setdefault(name, where)
        self.assertTrue(REQUIRED <= set(used), f"not shown: {REQUIRED - set(used)}")

        tallyd = Tallyd("--flush_interval=200ms")
        try:
            os.environ.update(STATSD_PORT=str(tallyd.udp_port), APP_NAME="shop")
            import app

            client = app.create_app().test_client()
            client.get("/users/1").close()

            def served():
                metrics = tallyd.scrape()
                return metrics if "flask_request_cpu" in metrics else None
            metrics = wait_for(served, what="the Flask example's metrics on /metrics")
        finally:
            self.assertEqual(tallyd.stop(), 0)
        names = {s.name for f in metrics.values() for s in f.samples} | set(metrics)
        missing = {n: where for n, where in used.items() if n not in names}
        self.assertEqual(missing, {}, "metric names the dashboard uses that tallyd does not serve")

    def test_the_name_scan_itself(self):
        self.assertEqual(
            metric_names('sum by (route, x) (rate(a_b_total{l="x{y}", m=~"q"}[5m] offset 1m)) '
                         '/ on (i) group_left (j) max(c:d) > bool 2e3'),
            {"a_b_total", "c:d"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
