// bench/workload.h: realistic DogStatsD traffic for the benchmarks and tallyd-loadgen.
//
// A Workload is a fixed population of series (name, type, tag set) with one pre-rendered line
// each, 40-120 bytes for 0-3 tags, like what the Datadog client libraries send. Deterministic
// for a given seed, so runs are comparable. Header-only so the load generator does not link the
// aggregator.
#ifndef TALLYD_BENCH_WORKLOAD_H_
#define TALLYD_BENCH_WORKLOAD_H_

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tallyd::bench {

struct WorkloadOptions {
  size_t series = 100'000;
  int tags = 3;  // tags per line
  // Share of series per type, in percent; the rest are counters.
  int gauge_percent = 0;
  int timer_percent = 0;
  int histogram_percent = 0;
  int sampled_percent = 0;  // lines with |@0.5
  bool sorted_tags = true;  // tags in canonical order, as most clients' constant tags are
  uint64_t seed = 42;
};

class Workload {
 public:
  explicit Workload(const WorkloadOptions& options) {
    std::mt19937_64 rng(options.seed);
    static constexpr const char* kServices[] = {"checkout",  "payments", "search",   "frontend",
                                                "inventory", "auth",     "shipping", "ads"};
    static constexpr const char* kMetrics[] = {
        "http.server.requests", "http.server.request.duration",
        "db.query.duration",    "cache.hits",
        "cache.misses",         "queue.depth",
        "jvm.gc.pause",         "worker.jobs.processed",
        "rpc.client.calls",     "kafka.consumer.lag"};
    static constexpr const char* kEndpoints[] = {"/api/v1/users",      "/api/v1/orders", "/health",
                                                 "/api/v2/cart/items", "/login",         "/search"};
    static constexpr const char* kExtra[] = {"version:1.24.3", "region:eu-west-1",  "az:eu-west-1b",
                                             "team:core",      "service_tier:gold", "runtime:jvm",
                                             "method:GET"};
    lines_.reserve(options.series);
    for (size_t i = 0; i < options.series; ++i) {
      // Without tags, Graphite-style names carry the dimensions ("prod.web-12.checkout...").
      std::string line = options.tags == 0 ? "prod.web-" + std::to_string(i / 60) + "." : "";
      line += kServices[i % 8];
      line += '.';
      line += kMetrics[(i / 8) % 10];
      // Make every series distinct: the tags when there are some, the name otherwise.
      if (options.tags == 0) line += "." + std::to_string(i);
      const int pick = static_cast<int>(rng() % 100);
      const char* type = "c";
      std::string value = std::to_string(1 + rng() % 5);
      if (pick < options.gauge_percent) {
        type = "g";
        value = std::to_string(rng() % 100000);
      } else if (pick < options.gauge_percent + options.timer_percent) {
        type = "ms";
        value = std::to_string(rng() % 2000) + "." + std::to_string(rng() % 10);
      } else if (pick < options.gauge_percent + options.timer_percent + options.histogram_percent) {
        type = "h";
        value = std::to_string(rng() % 500);
      }
      line += ':';
      line += value;
      line += '|';
      line += type;
      if (static_cast<int>(rng() % 100) < options.sampled_percent) line += "|@0.5";
      if (options.tags > 0) {
        std::vector<std::string> tags = {"host:web-" + std::to_string(i / 60), "env:prod"};
        if (options.tags >= 3) {
          tags.push_back(std::string("endpoint:") + kEndpoints[(i / 10) % 6]);
          tags.push_back("status:" + std::to_string(200 + (i % 10)));
        }
        for (int t = 4; t <= options.tags; ++t) {
          tags.push_back(kExtra[(t - 4) % 7] + (t > 10 ? std::to_string(t) : std::string()));
        }
        tags.resize(options.tags);
        // Canonical (sorted) order unless asked otherwise: then the shard also keeps the raw
        // spelling as an alias of the canonical key.
        if (options.sorted_tags) {
          std::sort(tags.begin(), tags.end());
        } else {
          std::rotate(tags.begin(), tags.begin() + 1, tags.end());  // host last: unsorted
        }
        line += "|#";
        for (size_t t = 0; t < tags.size(); ++t) {
          if (t != 0) line += ',';
          line += tags[t];
        }
      }
      lines_.push_back(std::move(line));
    }
  }

  size_t size() const { return lines_.size(); }
  const std::string& line(size_t i) const { return lines_[i]; }

  // Series indexes in the order a benchmark feeds them: uniformly random (realistic: many
  // clients interleave) or sequential (each series once, in order, repeated).
  std::vector<uint32_t> Order(size_t count, bool random, uint64_t seed = 7) const {
    std::vector<uint32_t> order(count);
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < count; ++i) {
      order[i] = static_cast<uint32_t>(random ? rng() % lines_.size() : i % lines_.size());
    }
    return order;
  }

  // Joins the lines of `order` into datagrams of `lines_per_datagram` lines each, as a client
  // with buffering sends them (no trailing newline, like the Datadog clients).
  std::vector<std::string> Datagrams(const std::vector<uint32_t>& order,
                                     size_t lines_per_datagram) const {
    std::vector<std::string> datagrams;
    datagrams.reserve(order.size() / lines_per_datagram + 1);
    std::string current;
    size_t in_current = 0;
    for (uint32_t index : order) {
      if (in_current != 0) current += '\n';
      current += lines_[index];
      if (++in_current == lines_per_datagram) {
        datagrams.push_back(std::move(current));
        current.clear();
        in_current = 0;
      }
    }
    if (in_current != 0) datagrams.push_back(std::move(current));
    return datagrams;
  }

 private:
  std::vector<std::string> lines_;
};

}  // namespace tallyd::bench

#endif  // TALLYD_BENCH_WORKLOAD_H_
