#!/usr/bin/python3
"""A small Flask app whose every request is timed into tallyd.

    STATSD_PORT=8125 APP_STAGE=dev /usr/bin/python3 examples/flask/app.py   # serves :5000
    curl localhost:5000/users/42; curl localhost:5000/report
    curl -s localhost:9102/metrics | grep flask_    # after one flush interval (10 s)

Environment: STATSD_HOST (127.0.0.1), STATSD_PORT (8125), APP_NAME (flask-example),
APP_STAGE (dev), PORT (5000, for `python3 app.py` only).
"""
import os
import time

from flask import Flask, abort, jsonify

from request_metrics import DogStatsClient, RequestMetrics

USERS = {1: "ada", 2: "grace", 3: "edsger"}


def create_app():
    app = Flask(__name__)
    client = DogStatsClient(
        host=os.environ.get("STATSD_HOST", "127.0.0.1"),
        port=int(os.environ.get("STATSD_PORT", "8125")),
        constant_tags={"app": os.environ.get("APP_NAME", "flask-example"),
                       "stage": os.environ.get("APP_STAGE", "dev")},
    )
    app.wsgi_app = RequestMetrics(app, client)

    @app.route("/")
    def index():
        return "ok\n"

    @app.route("/users/<int:user_id>")
    def user(user_id):
        with client.timed("flask.db.query", tags={"table": "users"}):
            name = USERS.get(user_id)
        if name is None:
            abort(404)
        return jsonify(id=user_id, name=name)

    @app.route("/report")
    def report():
        with client.timed("flask.report.render"):
            time.sleep(0.05)  # stands for slow work: 50 ms of wall time, almost no CPU
        return "report\n"

    @app.route("/boom")
    def boom():
        raise RuntimeError("a handler that fails: counted with http_status_code 500")

    return app


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
