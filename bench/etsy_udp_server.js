// Etsy statsd's own servers/udp.js plus a receive buffer (`recvBufferSize`, bytes), so that
// bench/e2e gives Etsy the same 8 MiB as tallyd and the sink; Etsy 0.9.0 has no option for it.
// The kernel caps SO_RCVBUF at net.core.rmem_max; bench/e2e records the size the socket got.
const dgram = require('dgram');

exports.start = function(config, callback) {
  const server = dgram.createSocket({
    type: config.address_ipv6 ? 'udp6' : 'udp4',
    recvBufferSize: config.recvBufferSize || 8 * 1024 * 1024,
  }, callback);
  server.bind(config.port || 8125, config.address || undefined);
  this.server = server;
  return true;
};
