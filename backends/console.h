// backends/console.h: the console backend (SPEC 4.4), for debugging and scripting.
//
// Each flush writes one JSON object per line: one per series, one per client-timestamped point
// (with its own "ts"), one per event and service check, and optionally tallyd's own metrics:
//   {"name":"req","type":"counter","tags":["a:1"],"ts":1700000000,"values":{"count":3,"rate":0.3}}
// Formatting (FormatConsole) is separate from writing so tests compare golden strings.
#ifndef TALLYD_BACKENDS_CONSOLE_H_
#define TALLYD_BACKENDS_CONSOLE_H_

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "backends/backend.h"

namespace tallyd::backends {

struct ConsoleOptions {
  // Also write tallyd's own metrics, as {"name":"tallyd_...","type":"counter"|"gauge",
  // "tags":["label:value"],"ts":..,"values":{"value":..}}.
  bool self_metrics = false;
};

// The lines for one flush, each ending in '\n'. Values per type:
// - counter {count, rate}; gauge {value}; set {count} (idle sets are skipped);
// - timer, histogram, distribution: Etsy's stats (count, count_ps, sum, sum_squares, lower, upper,
//   mean, median, std, then count_<p>, mean_<p>, upper_<p> (lower_top<p>), sum_<p>,
//   sum_squares_<p> for each present percentile); idle ones are skipped;
// - a timestamped point: counter and set {count}, gauge and the sampled types {value};
// - {"type":"event",...} and {"type":"service_check",...} with their non-empty fields.
// A NaN or infinite value (which JSON cannot carry) is left out of "values" and added to
// `*non_finite_values` when given.
std::string FormatConsole(const Flush& flush, const ConsoleOptions& options = {},
                          uint64_t* non_finite_values = nullptr);

class ConsoleBackend : public Backend {
 public:
  // Writes to std::cout.
  explicit ConsoleBackend(ConsoleOptions options = {});
  // Writes to `out`, which must outlive the backend (tests pass an std::ostringstream).
  ConsoleBackend(ConsoleOptions options, std::ostream* out);

  std::string_view name() const override { return "console"; }
  Delivery Deliver(const Flush& flush) override;
  bool forwards_events() const override { return true; }

  // Values left out since start because they were NaN or infinite. Any thread.
  uint64_t non_finite_values() const { return non_finite_values_.load(std::memory_order_relaxed); }

 private:
  const ConsoleOptions options_;
  std::ostream* const out_;  // touched only on the backend's thread
  std::atomic<uint64_t> non_finite_values_{0};
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_CONSOLE_H_
