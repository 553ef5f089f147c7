// backends/graphite_format.h: one flush -> Carbon plaintext lines (`path value timestamp\n`), with
// the paths of Etsy statsd 0.9.0's graphite backend (SPEC 4.2). Pure: no sockets, no clock; the
// transport (backends/graphite.h) sends the bytes, tests compare them with golden strings.
//
// Paths (`<name>` sanitized as Etsy does, see SanitizeGraphiteName; `<sfx>` is "." global_suffix
// when global_suffix is not empty; `;tags` the Graphite 1.1 tags, see below):
//   legacy_namespace: true (Etsy's default)   legacy_namespace: false (P = global_prefix)
//   counter  stats.<name><sfx>                 P.prefix_counter.<name>.rate<sfx>
//            stats_counts.<name><sfx>          P.prefix_counter.<name>.count<sfx>
//   timer    stats.timers.<name>.<stat><sfx>   P.prefix_timer.<name>.<stat><sfx>
//   gauge    stats.gauges.<name><sfx>          P.prefix_gauge.<name><sfx>
//   set      stats.sets.<name>.count<sfx>      P.prefix_set.<name>.count<sfx>
//   self     stats.tallyd.<metric><sfx>        P.tallyd.<metric><sfx>
// As in Etsy, legacy_namespace ignores global_prefix and prefix_*, and an empty prefix is left
// out with its dot (global_prefix "" and prefix_counter "" give `<name>.rate`).
//
// Choices where Etsy has nothing to copy (README):
// - Histograms and distributions are written exactly as timers, under the timer namespace (SPEC 3
//   gives them timer stats; Etsy has only `ms` and counts any unknown type, `h` included, as a
//   counter); a timer and a histogram of the same name therefore share paths.
// - Timer stats come in Etsy's order: per present percentile count_p, mean_p, upper_p (lower_topP),
//   sum_p, sum_squares_p, then std, upper, lower, count, count_ps, sum, sum_squares, mean, median.
//   An idle timer/histogram/distribution writes only count 0 and count_ps 0, an idle set count 0.
// - Series are written grouped as Etsy does (counters, timers, gauges, sets), in snapshot order
//   within a group, then client-timestamped points, then tallyd's own metrics.
// - A client-timestamped point (|T) carries its own timestamp: a counter point writes the rate
//   (value / flush interval) and count paths, a gauge point the gauge path, a set point the set
//   count, a timer/histogram/distribution point the stats of a one-sample timer (as Etsy reports
//   an interval holding that one sample). Points of one series with the same second overwrite
//   each other in Graphite.
// - tallyd's own metrics (SPEC 5) drop their "tallyd_" prefix and keep their Prometheus suffix
//   (`stats.tallyd.packets_received_total;transport=udp`); counters are running totals.
// - A `;` in a name starts Etsy-style tags (`name;k=v;bare`, which Etsy passes through as is):
//   the path is the part before the first `;`, and each `;`-separated segment after it is a tag,
//   split at its first `=` (`k=v`), a segment without `=` being a bare tag (`bare=true`; Etsy
//   would pass it on and carbon would reject the whole name), an empty segment skipped. So a `;`
//   never reaches carbon except as a tag separator, and never inside a path, key or value.
// - Tags (`tags: graphite`): the series' tags plus those from the name are written after the
//   whole path (stat and global_suffix included), `;key=value`, sorted by key then value, one
//   per key (the first after sorting; Graphite keeps one value per key). A bare tag `key`
//   becomes `key=true`. Keys are sanitized like names without `;` and `=`, values keep `=`
//   (Etsy turns the tag's first `:` into `=` and removes later ones); a `;` in a tag becomes `_`
//   as in Etsy. A tag whose key or value is empty after that (`#k:`, `#!!!:v`, `name;=v`,
//   `name;k=`) is dropped and counted: carbon rejects an empty key or value, and `key=true`
//   would pass it off as a bare tag. `~` is never kept, so no value starts with it (carbon
//   rejects that too). `tags: none` drops every tag, name-embedded ones included.
// - Values are printed as JavaScript prints numbers (what Etsy sends): the shortest digits that
//   read back to the same double, fixed notation for 1e-6 <= |v| < 1e21 (integers without ".0"),
//   exponent notation outside ("1e+21", "1.5e-7"); -0 prints as 0. Graphite's float() reads every
//   form back exactly. A non-finite value is not written (counted).
// - A series whose name is empty after sanitizing is not written (counted); Etsy would write
//   `stats..` paths that Graphite cannot query.
// - A line longer than 16384 bytes (its '\n' aside) is not written (counted): carbon's plaintext
//   receiver would close the connection on it and lose the rest of the flush.
#ifndef TALLYD_BACKENDS_GRAPHITE_FORMAT_H_
#define TALLYD_BACKENDS_GRAPHITE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "backends/backend.h"

namespace tallyd::backends {

struct GraphiteFormatOptions {
  bool legacy_namespace = true;
  bool tags = true;  // false: `tags: none`
  std::string global_prefix = "stats";
  std::string prefix_counter = "counters";
  std::string prefix_timer = "timers";
  std::string prefix_gauge = "gauges";
  std::string prefix_set = "sets";
  std::string global_suffix{};  // "" writes no suffix (Etsy: unset)
  bool self_metrics = true;
};

// What formatting one flush left out, for the backend's counters.
struct GraphiteFormatStats {
  uint64_t lines = 0;
  uint64_t invalid_names = 0;      // series or metrics skipped: empty name after sanitizing
  uint64_t dropped_tags = 0;       // tags skipped: empty key or value after sanitizing
  uint64_t non_finite_values = 0;  // lines skipped: NaN or infinite value
  uint64_t long_lines = 0;         // lines skipped: longer than carbon reads (16384 bytes)
};

// Where the flush's bytes come from, chunk by chunk: each chunk whole lines, the same chunks again
// after Restart. GraphiteChunks for the backend; fixed strings in unit tests.
class GraphiteChunkSource {
 public:
  virtual ~GraphiteChunkSource() = default;
  // Replaces `out` with the next chunk; false at the end.
  virtual bool Next(std::string& out) = 0;
  virtual void Restart() = 0;
};

class GraphiteWriter;  // graphite_format.cc

// The Carbon plaintext of one flush in bounded chunks, so a flush's text is never held whole
// (at 1M series it would be ~100 MB). The chunks, concatenated, are exactly FormatGraphite's text.
// Each chunk is the lines of whole series (so it starts and ends at a line boundary), filled until
// it holds at least `chunk_bytes`: it exceeds that by one series' lines at most (a timer's stats,
// each line <= 16385 bytes). Holds the flush (a shared snapshot) and its own copy of `options`
// (a temporary is fine). Not thread-safe.
class GraphiteChunks : public GraphiteChunkSource {
 public:
  static constexpr size_t kDefaultChunkBytes = 256 << 10;

  GraphiteChunks(Flush flush, const GraphiteFormatOptions& options,
                 size_t chunk_bytes = kDefaultChunkBytes);
  ~GraphiteChunks() override;

  // Replaces `out` with the next chunk (reusing its capacity); false, `out` empty, at the end.
  bool Next(std::string& out) override;
  // Back to the first chunk; the next passes give the same chunks again.
  void Restart() override;
  // What the chunks produced so far left out, each chunk counted once however often it is
  // produced again after a Restart.
  const GraphiteFormatStats& stats() const { return stats_; }

 private:
  const Flush flush_;
  const GraphiteFormatOptions options_;  // before writer_, which refers to it
  const size_t chunk_bytes_;
  std::unique_ptr<GraphiteWriter> writer_;
  int phase_ = 0;       // 0-3 series by type group, 4 timestamped points, 5 self metrics, 6 done
  size_t index_ = 0;    // the next item of the phase
  uint64_t chunk_ = 0;  // chunks produced in this pass
  uint64_t counted_chunks_ = 0;  // the most chunks any pass produced (their stats are in stats_)
  GraphiteFormatStats stats_;
};

// The Carbon plaintext of one flush, each line ending in '\n', whole. `stats` may be null.
std::string FormatGraphite(const Flush& flush, const GraphiteFormatOptions& options,
                           GraphiteFormatStats* stats = nullptr);

// Etsy's key sanitizing: each run of whitespace (what JavaScript's \s matches: ASCII whitespace
// and the Unicode spaces such as U+00A0, U+2028, U+3000) -> '_', '/' -> '-', then every character
// outside [A-Za-z0-9_.;=-] removed (any other non-ASCII character included).
std::string SanitizeGraphiteName(std::string_view name);

// Appends `value` as JavaScript's Number#toString would (see above). `value` must be finite.
void AppendGraphiteNumber(std::string& out, double value);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_GRAPHITE_FORMAT_H_
