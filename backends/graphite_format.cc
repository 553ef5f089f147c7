#include "backends/graphite_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "aggregator/snapshot.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;

// Carbon's plaintext receiver (twisted's LineOnlyReceiver) closes the connection on a line longer
// than this (its MAX_LENGTH, the '\n' not included), losing every line after it in the stream.
constexpr size_t kMaxCarbonLineBytes = 16384;

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// The non-ASCII characters JavaScript's \s matches (ECMAScript WhiteSpace and LineTerminator),
// which Etsy's `/\s+/g` turns into '_' like ASCII whitespace.
bool IsJavaScriptSpace(uint32_t c) {
  return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

// The code point of the UTF-8 sequence starting `text` (input is valid UTF-8, SPEC 2) and its
// length; a stray byte reads as itself, length 1.
uint32_t DecodeUtf8(std::string_view text, size_t* length) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (n > text.size()) n = 1;
  uint32_t c = n == 1 ? lead : lead & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xC0) != 0x80) {
      *length = 1;
      return lead;
    }
    c = (c << 6) | (byte(i) & 0x3F);
  }
  *length = n;
  return c;
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Etsy's three replacements in one pass. `semicolon` is what a ';' becomes (kept in names, where
// it starts Etsy-style tags; '_' in tags); `keep_equals` keeps '='.
void AppendSanitized(std::string& out, std::string_view text, char semicolon, bool keep_equals) {
  bool in_space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    bool space = IsAsciiSpace(c);
    if (static_cast<unsigned char>(c) >= 0x80) {
      size_t length = 1;
      space = IsJavaScriptSpace(DecodeUtf8(text.substr(i), &length));
      i += length - 1;  // the whole character: a space, or removed below
    }
    if (space) {
      if (!in_space) out.push_back('_');
      in_space = true;
      continue;
    }
    in_space = false;  // any other character ends the run, even one removed below (as in Etsy)
    if (c == '/') {
      out.push_back('-');
    } else if (IsAlnum(c) || c == '_' || c == '-' || c == '.') {
      out.push_back(c);
    } else if (c == ';') {
      if (semicolon != '\0') out.push_back(semicolon);
    } else if (c == '=' && keep_equals) {
      out.push_back(c);
    }
  }
}

std::string JoinNamespace(std::initializer_list<std::string_view> parts) {
  std::string joined;
  for (std::string_view part : parts) {
    if (part.empty()) continue;  // Etsy pushes a prefix only when it is not ""
    if (!joined.empty()) joined.push_back('.');
    joined.append(part);
  }
  return joined;
}

std::string SanitizeOption(std::string_view text) {
  std::string out;
  AppendSanitized(out, text, '\0', false);
  return out;
}

}  // namespace

// Writes the lines of one flush. Scratch buffers are reused from series to series.
class GraphiteWriter {
 public:
  explicit GraphiteWriter(const GraphiteFormatOptions& options) : options_(options) {
    std::string global = SanitizeOption(options.global_prefix);
    if (options.legacy_namespace) {
      counter_rate_ns_ = "stats";
      counter_count_ns_ = "stats_counts";
      timer_ns_ = "stats.timers";
      gauge_ns_ = "stats.gauges";
      set_ns_ = "stats.sets";
      self_ns_ = "stats.tallyd";  // Etsy: 'stats.' + prefixStats, whatever global_prefix is
    } else {
      counter_rate_ns_ = JoinNamespace({global, SanitizeOption(options.prefix_counter)});
      counter_count_ns_ = counter_rate_ns_;
      timer_ns_ = JoinNamespace({global, SanitizeOption(options.prefix_timer)});
      gauge_ns_ = JoinNamespace({global, SanitizeOption(options.prefix_gauge)});
      set_ns_ = JoinNamespace({global, SanitizeOption(options.prefix_set)});
      self_ns_ = JoinNamespace({global, "tallyd"});
    }
    std::string suffix = SanitizeOption(options.global_suffix);
    if (!suffix.empty()) suffix_ = "." + suffix;
  }

  // Where the next lines go and what they leave out is counted.
  void Target(std::string* out, GraphiteFormatStats* stats) {
    out_ = out;
    stats_ = stats;
  }

  void WriteSeries(const aggregator::Snapshot& snapshot, const aggregator::SeriesValue& series) {
    if (!BeginSeries(*series.key)) return;
    timestamp_ = snapshot.flush_unix_seconds;
    switch (series.key->type()) {
      case MetricType::kCounter:
        WriteCounter(series.value, snapshot.RateOf(series));
        break;
      case MetricType::kGauge:
        Line(gauge_ns_, {}, series.value);
        break;
      case MetricType::kSet:
        Line(set_ns_, "count", series.idle ? 0 : series.value);
        break;
      case MetricType::kTimer:
      case MetricType::kHistogram:
      case MetricType::kDistribution: {
        const aggregator::SampleSummary* summary = snapshot.SummaryOf(series);
        if (series.idle || summary == nullptr) {
          Line(timer_ns_, "count", 0);
          Line(timer_ns_, "count_ps", 0);
        } else {
          WriteSummary(snapshot, *summary);
        }
        break;
      }
    }
  }

  void WritePoint(const aggregator::Snapshot& snapshot, const aggregator::TimedPoint& point) {
    if (!BeginSeries(*point.key)) return;
    timestamp_ = point.timestamp;
    double seconds = absl::ToDoubleSeconds(snapshot.interval);
    double v = point.value;
    double per_second = seconds > 0 ? v / seconds : v;
    switch (point.key->type()) {
      case MetricType::kCounter:
        WriteCounter(v, per_second);
        break;
      case MetricType::kGauge:
        Line(gauge_ns_, {}, v);
        break;
      case MetricType::kSet:
        Line(set_ns_, "count", v);
        break;
      case MetricType::kTimer:
      case MetricType::kHistogram:
      case MetricType::kDistribution: {
        // What Etsy reports for an interval holding this one sample.
        aggregator::SampleSummary one;
        one.count = 1;
        one.count_ps = seconds > 0 ? 1 / seconds : 1;
        one.sum = v;
        one.sum_squares = v * v;
        one.lower = one.upper = one.mean = one.median = v;
        one.std = 0;
        one.samples = 1;
        one.percentiles.assign(snapshot.percentiles.size(),
                               aggregator::PercentileValue{true, 1, v, v, v, v * v});
        WriteSummary(snapshot, one);
        break;
      }
    }
  }

  void WriteSelfMetric(const SelfMetric& metric, int64_t timestamp) {
    std::string_view name = metric.name;
    if (name.substr(0, 7) == "tallyd_") name.remove_prefix(7);
    name_.clear();
    AppendSanitized(name_, name, '\0', false);
    tags_.clear();
    if (options_.tags) {
      for (const auto& [key, value] : metric.labels) AddTag(key, value);
    }
    if (!FinishSeries()) return;
    timestamp_ = timestamp;
    Line(self_ns_, {}, metric.value);
  }

 private:
  // Sanitizes the series' name and builds its tag suffix; false (counted) if nothing is left.
  bool BeginSeries(const aggregator::SeriesKey& key) {
    sanitized_.clear();
    AppendSanitized(sanitized_, key.name(), ';', true);
    std::string_view rest = sanitized_;
    size_t semicolon = rest.find(';');
    name_.assign(rest.substr(0, semicolon));
    tags_.clear();
    if (!options_.tags) return FinishSeries();
    // Etsy-style tags already in the name: "name;k=v;bare".
    while (semicolon != std::string_view::npos) {
      rest.remove_prefix(semicolon + 1);
      semicolon = rest.find(';');
      std::string_view segment = rest.substr(0, semicolon);
      if (segment.empty()) continue;
      size_t equals = segment.find('=');
      if (equals == std::string_view::npos) {
        AddTag(segment, "true");
      } else {
        AddTag(segment.substr(0, equals), segment.substr(equals + 1));
      }
    }
    key.ForEachTag([&](const aggregator::TagView& tag) {
      AddTag(tag.key, tag.bare ? std::string_view("true") : tag.value);
    });
    return FinishSeries();
  }

  void AddTag(std::string_view key, std::string_view value) {
    std::pair<std::string, std::string> tag;
    AppendSanitized(tag.first, key, '_', false);
    AppendSanitized(tag.second, value, '_', true);
    if (tag.first.empty() || tag.second.empty()) {
      ++stats_->dropped_tags;
      return;
    }
    tags_.push_back(std::move(tag));
  }

  bool FinishSeries() {
    if (name_.empty()) {
      ++stats_->invalid_names;
      return false;
    }
    std::sort(tags_.begin(), tags_.end());
    tag_suffix_.clear();
    for (size_t i = 0; i < tags_.size(); ++i) {
      if (i > 0 && tags_[i].first == tags_[i - 1].first) continue;  // one value per key
      tag_suffix_.push_back(';');
      tag_suffix_.append(tags_[i].first);
      tag_suffix_.push_back('=');
      tag_suffix_.append(tags_[i].second);
    }
    return true;
  }

  void WriteCounter(double count, double rate) {
    if (options_.legacy_namespace) {
      Line(counter_rate_ns_, {}, rate);
      Line(counter_count_ns_, {}, count);
    } else {
      Line(counter_rate_ns_, "rate", rate);
      Line(counter_count_ns_, "count", count);
    }
  }

  void WriteSummary(const aggregator::Snapshot& snapshot, const aggregator::SampleSummary& s) {
    size_t n = std::min(s.percentiles.size(), snapshot.percentiles.size());
    for (size_t i = 0; i < n; ++i) {
      const aggregator::PercentileValue& value = s.percentiles[i];
      if (!value.present) continue;
      const aggregator::PercentileSpec& spec = snapshot.percentiles[i];
      Line(timer_ns_, spec.count_name, value.count);
      Line(timer_ns_, spec.mean_name, value.mean);
      Line(timer_ns_, spec.bound_name, value.bound);
      Line(timer_ns_, spec.sum_name, value.sum);
      Line(timer_ns_, spec.sum_squares_name, value.sum_squares);
    }
    Line(timer_ns_, "std", s.std);
    Line(timer_ns_, "upper", s.upper);
    Line(timer_ns_, "lower", s.lower);
    Line(timer_ns_, "count", s.count);
    Line(timer_ns_, "count_ps", s.count_ps);
    Line(timer_ns_, "sum", s.sum);
    Line(timer_ns_, "sum_squares", s.sum_squares);
    Line(timer_ns_, "mean", s.mean);
    Line(timer_ns_, "median", s.median);
  }

  // `<ns>.<name>[.<stat>]<suffix><tags> <value> <timestamp>\n`
  void Line(std::string_view ns, std::string_view stat, double value) {
    if (!std::isfinite(value)) {
      ++stats_->non_finite_values;
      return;
    }
    const size_t start = out_->size();
    if (!ns.empty()) {
      out_->append(ns);
      out_->push_back('.');
    }
    out_->append(name_);
    if (!stat.empty()) {
      out_->push_back('.');
      out_->append(stat);
    }
    out_->append(suffix_);
    out_->append(tag_suffix_);
    out_->push_back(' ');
    AppendGraphiteNumber(*out_, value);
    out_->push_back(' ');
    char buffer[24];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), timestamp_);
    out_->append(buffer, result.ptr);
    if (out_->size() - start > kMaxCarbonLineBytes) {
      out_->resize(start);
      ++stats_->long_lines;
      return;
    }
    out_->push_back('\n');
    ++stats_->lines;
  }

  const GraphiteFormatOptions& options_;
  std::string* out_ = nullptr;
  GraphiteFormatStats* stats_ = nullptr;
  std::string counter_rate_ns_, counter_count_ns_, timer_ns_, gauge_ns_, set_ns_, self_ns_;
  std::string suffix_;
  // The current series.
  std::string sanitized_;
  std::string name_;
  std::vector<std::pair<std::string, std::string>> tags_;
  std::string tag_suffix_;
  int64_t timestamp_ = 0;
};

namespace {

int TypeGroup(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return 0;
    case MetricType::kTimer:
    case MetricType::kHistogram:
    case MetricType::kDistribution:
      return 1;
    case MetricType::kGauge:
      return 2;
    case MetricType::kSet:
      return 3;
  }
  return 0;
}

}  // namespace

std::string SanitizeGraphiteName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  AppendSanitized(out, name, ';', true);
  return out;
}

void AppendGraphiteNumber(std::string& out, double value) {
  if (value == 0) {  // 0 and -0
    out.push_back('0');
    return;
  }
  // The shortest round-trip digits and exponent, then laid out as ECMAScript Number::toString.
  char buffer[40];
  auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string_view text(buffer, result.ptr - buffer);  // "-d.ddde+XX"
  if (text.front() == '-') {
    out.push_back('-');
    text.remove_prefix(1);
  }
  size_t e = text.find('e');
  std::string digits;
  for (char c : text.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = std::atoi(std::string(text.substr(e + 1)).c_str());
  int k = static_cast<int>(digits.size());
  int n = exponent + 1;  // the decimal point sits after n digits
  if (k <= n && n <= 21) {
    out.append(digits);
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<size_t>(n));
    out.push_back('.');
    out.append(digits, static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out.append("0.");
    out.append(static_cast<size_t>(-n), '0');
    out.append(digits);
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(n - 1 >= 0 ? '+' : '-');
    out.append(std::to_string(std::abs(n - 1)));
  }
}

GraphiteChunks::GraphiteChunks(Flush flush, const GraphiteFormatOptions& options,
                               size_t chunk_bytes)
    : flush_(std::move(flush)),
      options_(options),
      chunk_bytes_(std::max<size_t>(chunk_bytes, 1)),
      writer_(std::make_unique<GraphiteWriter>(options_)) {}

GraphiteChunks::~GraphiteChunks() = default;

void GraphiteChunks::Restart() {
  phase_ = 0;
  index_ = 0;
  chunk_ = 0;
}

// The phases, in the order of the text: the four type groups of the series (each a pass over
// snapshot.series, keeping snapshot order within a group), the client-timestamped points, then
// tallyd's own metrics.
bool GraphiteChunks::Next(std::string& out) {
  out.clear();
  GraphiteFormatStats counted;
  writer_->Target(&out, &counted);
  const aggregator::Snapshot* snapshot = flush_.snapshot.get();
  const int64_t ts = snapshot != nullptr ? snapshot->flush_unix_seconds : 0;
  while (out.size() < chunk_bytes_ && phase_ < 6) {
    if (phase_ < 4) {
      if (snapshot == nullptr || index_ >= snapshot->series.size()) {
        ++phase_;
        index_ = 0;
        continue;
      }
      const aggregator::SeriesValue& series = snapshot->series[index_++];
      if (series.key != nullptr && TypeGroup(series.key->type()) == phase_) {
        writer_->WriteSeries(*snapshot, series);
      }
    } else if (phase_ == 4) {
      if (snapshot == nullptr || index_ >= snapshot->timestamped_points.size()) {
        ++phase_;
        index_ = 0;
        continue;
      }
      const aggregator::TimedPoint& point = snapshot->timestamped_points[index_++];
      if (point.key != nullptr) writer_->WritePoint(*snapshot, point);
    } else {
      if (!options_.self_metrics || flush_.self_metrics == nullptr ||
          index_ >= flush_.self_metrics->size()) {
        ++phase_;
        index_ = 0;
        continue;
      }
      writer_->WriteSelfMetric((*flush_.self_metrics)[index_++], ts);
    }
  }
  writer_->Target(nullptr, nullptr);
  // Chunks come out the same on every pass, so the one numbered past the furthest pass is new.
  if (++chunk_ > counted_chunks_) {
    counted_chunks_ = chunk_;
    stats_.lines += counted.lines;
    stats_.invalid_names += counted.invalid_names;
    stats_.dropped_tags += counted.dropped_tags;
    stats_.non_finite_values += counted.non_finite_values;
    stats_.long_lines += counted.long_lines;
  }
  return !out.empty();
}

std::string FormatGraphite(const Flush& flush, const GraphiteFormatOptions& options,
                           GraphiteFormatStats* stats) {
  // One chunk holding everything.
  GraphiteChunks chunks(flush, options, std::numeric_limits<size_t>::max());
  std::string out;
  chunks.Next(out);
  if (stats != nullptr) *stats = chunks.stats();
  return out;
}

}  // namespace tallyd::backends
