"""Request timings for a WSGI app, sent to tallyd (or any DogStatsD server) as DogStatsD timers.

- DogStatsClient: Debian's python3-statsd client (`statsd.StatsClient`: its UDP socket,
  formatting, sample rates and pipelines), plus DogStatsD tags. That client speaks Etsy StatsD,
  which has no tags, and its methods take none, so the two methods that format a line are
  extended here to append `|#key:value,...` (constant tags first) and send UTF-8.
- RequestMetrics: WSGI middleware timing every request, wall and CPU time in milliseconds, tagged
  with `http_method`, `http_status_code` and `route`, the Flask URL rule that matched
  (`/users/<int:user_id>`, never the raw path, so ids never become series; `unmatched` for a
  404) plus the client's constant tags (`app`, `stage`).
- DogStatsClient.timed(): a context manager that times a block the same way.

tallyd turns `flask.request.duration:12.5|ms|#...` into the Prometheus summary
`flask_request_duration{app=...,route=...,quantile="0.5"}` in seconds, with `_sum` and `_count`.
"""
import contextlib
import time

import statsd
import statsd.client.udp
from werkzeug.wsgi import ClosingIterator

REQUEST_DURATION = "flask.request.duration"  # wall time, request start to body closed
REQUEST_CPU = "flask.request.cpu"  # this thread's CPU time over the same span
UNMATCHED_ROUTE = "unmatched"
_ENVIRON_ROUTE = "request_metrics.route"


def _tag_value(value):
    # `,` separates tags and `|` fields in a DogStatsD line; a URL rule may hold either
    # (`<any(a,b):x>`), so they are replaced rather than cut the line short.
    return str(value).replace(",", "_").replace("|", "_").replace("\n", " ")


def format_tags(tags):
    """{"route": "/x", "canary": None} -> ["route:/x", "canary"]"""
    return [k if v is None else f"{k}:{_tag_value(v)}" for k, v in tags.items()]


class _Tags:
    """DogStatsD tags for a statsd.StatsClient or its pipeline (mixed in before them)."""

    def timing(self, stat, delta, rate=1, tags=None):
        self._send_tagged(stat, "%0.6f|ms" % delta, rate, tags)

    def incr(self, stat, count=1, rate=1, tags=None):
        self._send_tagged(stat, "%s|c" % count, rate, tags)

    def _send_tagged(self, stat, value, rate, tags):
        line = self._prepare(stat, value, rate)  # None when sampled out
        if line is None:
            return
        all_tags = self._constant_tags + format_tags(tags or {})
        self._after(line + "|#" + ",".join(all_tags) if all_tags else line)


class DogStatsPipeline(_Tags, statsd.client.udp.Pipeline):
    def __init__(self, client):
        super().__init__(client)
        self._constant_tags = client._constant_tags


class DogStatsClient(_Tags, statsd.StatsClient):
    def __init__(self, host="127.0.0.1", port=8125, prefix=None, constant_tags=None,
                 maxudpsize=1432):
        super().__init__(host, port, prefix=prefix, maxudpsize=maxudpsize)
        self._constant_tags = format_tags(constant_tags or {})

    def _send(self, data):
        # statsd.StatsClient encodes ASCII; DogStatsD tags may be any UTF-8.
        try:
            self._sock.sendto(data.encode("utf-8"), self._addr)
        except OSError:
            pass  # as statsd.StatsClient: metrics never break the app

    def pipeline(self):
        return DogStatsPipeline(self)

    @contextlib.contextmanager
    def timed(self, stat, tags=None):
        """with client.timed("db.query", {"table": "users"}): ... -> a timer in ms."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timing(stat, (time.perf_counter() - start) * 1000.0, tags=tags)


class RequestMetrics:
    """app.wsgi_app = RequestMetrics(app, client): times every request of a Flask app."""

    def __init__(self, flask_app, client):
        self.wsgi_app = flask_app.wsgi_app
        self.client = client
        # Flask runs before_request hooks after routing, with request.url_rule set (None when
        # nothing matched); the rule is handed to the middleware through the WSGI environ.
        flask_app.before_request(self._remember_route)

    @staticmethod
    def _remember_route():
        import flask  # only inside a request

        rule = flask.request.url_rule
        flask.request.environ[_ENVIRON_ROUTE] = rule.rule if rule is not None else UNMATCHED_ROUTE

    def __call__(self, environ, start_response):
        wall, cpu = time.perf_counter(), time.thread_time()
        status = ["500"]  # if the app raises before starting the response

        def capture_status(status_line, headers, exc_info=None):
            status[0] = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, exc_info)

        def finish():
            tags = {
                "http_method": environ.get("REQUEST_METHOD", ""),
                "http_status_code": status[0],
                "route": environ.get(_ENVIRON_ROUTE, UNMATCHED_ROUTE),
            }
            with self.client.pipeline() as pipe:  # both timers in one datagram
                pipe.timing(REQUEST_DURATION, (time.perf_counter() - wall) * 1000.0, tags=tags)
                pipe.timing(REQUEST_CPU, (time.thread_time() - cpu) * 1000.0, tags=tags)

        try:
            body = self.wsgi_app(environ, capture_status)
        except BaseException:
            finish()
            raise
        # Timed until the server closes the body, so a streamed response counts in full.
        return ClosingIterator(body, [finish])
