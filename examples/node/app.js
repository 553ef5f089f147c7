// A small node:http app whose every request is timed into tallyd with hot-shots, as
// examples/flask does: a DogStatsD timer in milliseconds per request, tagged app, stage,
// http_method, http_status_code and route, the route's pattern (`/users/{id}`, the OpenAPI spelling: hot-shots
// turns a `:` in a tag value into `_`), never the raw
// path, so ids never become series (`unmatched` when none matched); `stats.timer()` / a
// `timed()` helper time a block. No CPU time: Node runs every request on one event loop, so
// process.cpuUsage() over a request's span would count its neighbours' work too.
//
//   npm install && STATSD_PORT=8125 APP_STAGE=dev node app.js      # serves :3000
//   curl localhost:3000/users/42; curl -s localhost:9102/metrics | grep node_request_duration
'use strict';
const http = require('node:http');
const StatsD = require('hot-shots');

const REQUEST_DURATION = 'node.request.duration';

// [pattern, handler]: `{name}` matches one path segment.
function compile(routes) {
  return routes.map(([pattern, handler]) => {
    const source = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{[a-z_]+\\\}/gi, '([^/]+)');
    return { pattern, handler, regex: new RegExp(`^${source}$`) };
  });
}

// Times `handler(req, res, params)` from the request's arrival to the response's last byte.
function withRequestTimings(stats, routes) {
  const table = compile(routes);
  return (req, res) => {
    const start = process.hrtime.bigint();
    const path = new URL(req.url, 'http://localhost').pathname;
    const match = table.map((r) => ({ r, m: r.regex.exec(path) })).find(({ m }) => m);
    const route = match ? match.r.pattern : 'unmatched';
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      stats.timing(REQUEST_DURATION, ms, {
        http_method: req.method, http_status_code: String(res.statusCode), route,
      });
    });
    if (!match) {
      res.writeHead(404).end('not found\n');
      return;
    }
    Promise.resolve()
      .then(() => match.r.handler(req, res, match.m.slice(1)))
      .catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); });
  };
}

// async block timing with the client's own helper: a timer in ms, tagged.
function timed(stats, stat, tags, fn) {
  return stats.asyncTimer(fn, stat, 1, tags)();
}

function createServer(options = {}) {
  const stats = new StatsD({
    host: options.host || process.env.STATSD_HOST || '127.0.0.1',
    port: Number(options.port || process.env.STATSD_PORT || 8125),
    globalTags: {
      app: options.app || process.env.APP_NAME || 'node-example',
      stage: options.stage || process.env.APP_STAGE || 'dev',
    },
    errorHandler: () => {}, // metrics never break the app
  });
  const users = { 1: 'ada', 2: 'grace', 3: 'edsger' };
  const server = http.createServer(withRequestTimings(stats, [
    ['/', (req, res) => res.end('ok\n')],
    ['/users/{id}', async (req, res, [id]) => {
      const name = await timed(stats, 'node.db.query', { table: 'users' }, async () => users[id]);
      if (!name) return res.writeHead(404).end('no such user\n');
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ id: Number(id), name }));
    }],
    ['/report', async (req, res) => {
      await timed(stats, 'node.report.render', {}, () => new Promise((r) => setTimeout(r, 50)));
      res.end('report\n');
    }],
    ['/boom', () => { throw new Error('a handler that fails: counted with status 500'); }],
  ]));
  server.on('close', () => stats.close());
  return server;
}

module.exports = { createServer, REQUEST_DURATION };

if (require.main === module) {
  const server = createServer();
  server.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
    // The port on stdout, for scripts and tests that pass PORT=0.
    console.log(`listening on ${server.address().port}`);
  });
  process.on('SIGTERM', () => server.close());
}
