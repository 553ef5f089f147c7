#!/usr/bin/python3
"""Feeds Carbon plaintext from stdin through carbon's own line receiver (graphite-carbon's
carbon.protocols.MetricLineReceiver, on twisted's LineOnlyReceiver) and then through the name
parsing carbon-cache applies to each metric (carbon.util.TaggedSeries.parse).

Exit 0 when every line was received and parsed with a finite value and an integer timestamp;
exit 1 with one reason per bad line on stderr; exit 2 when carbon is not importable.
Prints the number of metrics received on stdout.
"""
import math
import sys

try:
    from carbon import log, protocols
    from carbon.util import TaggedSeries
except ImportError as error:  # graphite-carbon not installed
    print("carbon not importable: %s" % error, file=sys.stderr)
    sys.exit(2)

problems = []
received = []


class Transport:
    """What LineOnlyReceiver needs of a transport: it calls loseConnection() on a line longer than
    MAX_LENGTH, after which the rest of the stream is lost."""
    disconnecting = False

    def loseConnection(self):
        problems.append("carbon dropped the connection (a line over %d bytes)" %
                        protocols.MetricLineReceiver.MAX_LENGTH)
        self.disconnecting = True


class Receiver(protocols.MetricLineReceiver):
    peerName = "test"

    def metricReceived(self, metric, datapoint):
        received.append((metric, datapoint))


def listener(message, *args, **kwargs):
    problems.append(message)


log.listener = listener

receiver = Receiver()
receiver.transport = Transport()
data = sys.stdin.buffer.read()
if data and not data.endswith(b"\n"):
    problems.append("the stream does not end with a newline")
for start in range(0, len(data), 65536):  # as the stream arrives: in chunks
    receiver.dataReceived(data[start:start + 65536])
    if receiver.transport.disconnecting:
        break

for metric, (timestamp, value) in received:
    short = metric if len(metric) < 200 else metric[:200] + "..."
    if not math.isfinite(value):
        problems.append("non-finite value %r for %r" % (value, short))
    if timestamp != int(timestamp):
        problems.append("timestamp %r is not an integer for %r" % (timestamp, short))
    try:
        TaggedSeries.parse(metric)
    except Exception as error:  # carbon-cache logs and stores it untagged
        problems.append("TaggedSeries.parse(%r): %s" % (short, error))

for problem in problems:
    print(problem, file=sys.stderr)
print(len(received))
sys.exit(1 if problems else 0)
