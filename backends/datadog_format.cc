#include "backends/datadog_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>

#include "absl/time/clock.h"
#include "aggregator/snapshot.h"
#include "backends/json_text.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;

// v2 series "type" codes.
constexpr int kTypeCount = 1;
constexpr int kTypeRate = 2;
constexpr int kTypeGauge = 3;

// A series' tags as a JSON array, and its host: DogStatsD's `host:<name>` tag names the host and
// is not sent as a tag (the Agent's enrichment does the same). Reused from series to series: the
// array's buffer keeps its capacity, the host views the key's tags or the default host.
struct ResolvedTags {
  std::string json;  // ["a:1","b"]
  std::string_view host;

  void Resolve(std::string_view canonical, std::string_view default_host) {
    host = default_host;
    json.clear();
    json.push_back('[');
    bool first = true;
    protocol::ForEachTag(canonical, [&](std::string_view tag) {
      if (tag.substr(0, 5) == "host:") {
        host = tag.substr(5);
        return;
      }
      if (!first) json.push_back(',');
      first = false;
      AppendJsonString(json, tag);
    });
    json.push_back(']');
  }
};

void AppendTagsJson(std::string& out, std::string_view canonical) {
  out.push_back('[');
  bool first = true;
  protocol::ForEachTag(canonical, [&](std::string_view tag) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, tag);
  });
  out.push_back(']');
}

// `name` then `suffix` as one JSON string; the suffixes (".max", ".95percentile") need no escape.
void AppendMetricName(std::string& out, std::string_view name, std::string_view suffix) {
  AppendJsonString(out, name);
  if (suffix.empty()) return;
  out.pop_back();  // the closing quote
  out += suffix;
  out.push_back('"');
}

// Fills payloads of one endpoint up to its limits, in order.
class PayloadPacker {
 public:
  PayloadPacker(DatadogEndpoint endpoint, DatadogLimits limits, std::vector<DatadogPayload>* out)
      : limits_(limits), out_(out) {
    current_.endpoint = endpoint;
  }

  void Add(std::string item) {
    size_t commas = current_.items.size();
    bool too_big =
        current_.item_bytes + commas + item.size() + kEnvelopeBytes > limits_.max_uncompressed;
    bool too_many = limits_.max_items != 0 && current_.items.size() >= limits_.max_items;
    if (!current_.items.empty() && (too_big || too_many)) Finish();
    current_.item_bytes += item.size();
    current_.items.push_back(std::move(item));
  }

  void Finish() {
    if (current_.items.empty()) return;
    DatadogEndpoint endpoint = current_.endpoint;
    out_->push_back(std::move(current_));
    current_ = DatadogPayload{};
    current_.endpoint = endpoint;
  }

 private:
  static constexpr size_t kEnvelopeBytes = sizeof("{\"series\":[]}") - 1;
  const DatadogLimits limits_;
  std::vector<DatadogPayload>* const out_;
  DatadogPayload current_;
};

// FormatDatadog's sink: each item a string of its own, packed into payloads.
class PayloadSink : public DatadogItemSink {
 public:
  explicit PayloadSink(const DatadogFormatOptions& options)
      : series_(DatadogEndpoint::kSeries, options.series_limits, &series_out_),
        distributions_(DatadogEndpoint::kDistributionPoints, options.distribution_limits,
                       &distribution_out_),
        checks_(DatadogEndpoint::kCheckRun, options.check_run_limits, &check_out_) {}

  std::string& BeginItem(DatadogEndpoint) override {
    item_.clear();
    return item_;
  }
  void EndItem(DatadogEndpoint endpoint, bool keep) override {
    if (!keep) return;
    switch (endpoint) {
      case DatadogEndpoint::kSeries:
        series_.Add(std::move(item_));
        break;
      case DatadogEndpoint::kDistributionPoints:
        distributions_.Add(std::move(item_));
        break;
      case DatadogEndpoint::kCheckRun:
        checks_.Add(std::move(item_));
        break;
      case DatadogEndpoint::kEvents: {  // the v1 events endpoint takes one event per request
        DatadogPayload& payload = event_out_.emplace_back();
        payload.endpoint = DatadogEndpoint::kEvents;
        payload.item_bytes = item_.size();
        payload.items.push_back(std::move(item_));
        break;
      }
    }
    item_ = std::string();
  }

  std::vector<DatadogPayload> Take() {
    series_.Finish();
    distributions_.Finish();
    checks_.Finish();
    std::vector<DatadogPayload> out = std::move(series_out_);
    for (auto* part : {&distribution_out_, &check_out_, &event_out_}) {
      for (DatadogPayload& payload : *part) out.push_back(std::move(payload));
    }
    return out;
  }

 private:
  std::vector<DatadogPayload> series_out_, distribution_out_, check_out_, event_out_;
  PayloadPacker series_, distributions_, checks_;
  std::string item_;
};

// Writes v2 series items for one flush.
class SeriesWriter {
 public:
  SeriesWriter(DatadogItemSink* sink, int64_t interval_seconds, DatadogFormatStats* stats)
      : sink_(sink), interval_(interval_seconds), stats_(stats) {}

  // One point. `interval` is sent for rates and counts of an interval.
  void Write(std::string_view name, std::string_view suffix, int type, bool with_interval,
             int64_t ts, double value, const ResolvedTags& tags) {
    if (!std::isfinite(value)) {
      ++stats_->values_skipped;
      return;
    }
    std::string& item = sink_->BeginItem(DatadogEndpoint::kSeries);
    item += "{\"metric\":";
    AppendMetricName(item, name, suffix);
    item += ",\"type\":";
    AppendJsonInteger(item, type);
    if (with_interval) {
      item += ",\"interval\":";
      AppendJsonInteger(item, interval_);
    }
    item += ",\"points\":[{\"timestamp\":";
    AppendJsonInteger(item, ts);
    item += ",\"value\":";
    AppendJsonNumber(item, value);
    item += "}]";
    if (!tags.host.empty()) {
      item += ",\"resources\":[{\"name\":";
      AppendJsonString(item, tags.host);
      item += ",\"type\":\"host\"}]";
    }
    item += ",\"tags\":";
    item += tags.json;
    item.push_back('}');
    ++stats_->series;
    sink_->EndItem(DatadogEndpoint::kSeries, true);
  }

 private:
  DatadogItemSink* const sink_;
  const int64_t interval_;
  DatadogFormatStats* const stats_;
};

std::string_view AggregateName(DatadogAggregate aggregate) {
  switch (aggregate) {
    case DatadogAggregate::kMax:
      return ".max";
    case DatadogAggregate::kMin:
      return ".min";
    case DatadogAggregate::kMedian:
      return ".median";
    case DatadogAggregate::kAvg:
      return ".avg";
    case DatadogAggregate::kSum:
      return ".sum";
    case DatadogAggregate::kCount:
      return ".count";
  }
  return "";
}

int PercentileInt(double p) { return std::clamp(static_cast<int>(p * 100 + 0.5), 1, 100); }

void WriteHistogram(SeriesWriter& writer, const aggregator::SeriesKey& key,
                    const aggregator::SampleSummary& summary, const ResolvedTags& tags, int64_t ts,
                    const DatadogFormatOptions& options) {
  const aggregator::ValueDistribution& distribution = summary.distribution;
  const uint64_t n = distribution.count();
  for (DatadogAggregate aggregate : options.aggregates) {
    double value = 0;
    int type = kTypeGauge;
    switch (aggregate) {
      case DatadogAggregate::kMax:
        value = summary.upper;
        break;
      case DatadogAggregate::kMin:
        value = summary.lower;
        break;
      case DatadogAggregate::kMedian:
        value = n > 0 ? distribution.ValueAtRank((n - 1) / 2) : summary.median;
        break;
      case DatadogAggregate::kAvg:
        value = summary.mean;
        break;
      case DatadogAggregate::kSum:
        value = summary.mean * summary.count;
        break;
      case DatadogAggregate::kCount:
        value = summary.count_ps;
        type = kTypeRate;
        break;
    }
    writer.Write(key.name(), AggregateName(aggregate), type, type == kTypeRate, ts, value, tags);
  }
  if (n == 0) return;
  for (double p : options.percentiles) {
    int64_t pct = PercentileInt(p);
    uint64_t rank = static_cast<uint64_t>((pct * static_cast<int64_t>(n) - 1) / 100);
    writer.Write(key.name(), DatadogPercentileSuffix(p), kTypeGauge, false, ts,
                 distribution.ValueAtRank(rank), tags);
  }
}

// {"metric":..,"points":[[ts,[values]]],"tags":[..],"host":..,"type":"distribution"}: the head,
// then the caller's values, then the tail.
void AppendDistributionHead(std::string& out, std::string_view name, int64_t ts) {
  out += "{\"metric\":";
  AppendJsonString(out, name);
  out += ",\"points\":[[";
  AppendJsonInteger(out, ts);
  out += ",[";
}

void AppendDistributionTail(std::string& out, const ResolvedTags& tags) {
  out += "]]],\"tags\":";
  out += tags.json;
  if (!tags.host.empty()) {
    out += ",\"host\":";
    AppendJsonString(out, tags.host);
  }
  out += ",\"type\":\"distribution\"}";
}

// Appends the values of one interval of a distribution (see DatadogFormatOptions) to `out`,
// comma-separated; returns how many.
size_t AppendDistributionValues(std::string& out, const aggregator::SampleSummary& summary,
                                size_t cap, DatadogFormatStats* stats) {
  size_t written = 0;
  // One value, `times` times: formatted once, then copied.
  auto append = [&](double v, uint64_t times) {
    if (times == 0) return;
    if (written > 0) out.push_back(',');
    const size_t at = out.size();
    AppendJsonNumber(out, v);
    const size_t len = out.size() - at;
    // Room first, so that appending from `out` itself never reallocates under the copy.
    out.reserve(out.size() + (len + 1) * (times - 1));
    for (uint64_t i = 1; i < times; ++i) {
      out.push_back(',');
      out.append(out, at, len);
    }
    written += times;
  };
  cap = std::max<size_t>(cap, 1);
  const aggregator::ValueDistribution& distribution = summary.distribution;
  const aggregator::DDSketch* sketch = summary.sketch != nullptr && !distribution.exact()
                                           ? summary.sketch.get()
                                           : distribution.sketch();
  if (sketch == nullptr) {
    const std::vector<double>& samples = distribution.sorted_samples();
    size_t n = samples.size();
    if (n > cap) ++stats->distributions_scaled;
    // Past the cap, evenly spaced ranks keep the quantiles.
    size_t sent = std::min(n, cap);
    for (size_t i = 0; i < sent; ++i) {
      double v = samples[n > cap ? i * n / cap : i];
      if (!std::isfinite(v)) {
        ++stats->values_skipped;
        continue;
      }
      append(v, 1);
    }
    return written;
  }
  const uint64_t total = sketch->count();
  const bool scaled = total > cap;
  if (scaled) ++stats->distributions_scaled;
  sketch->ForEachBin([&](double representative, uint64_t count) {
    double v = std::clamp(representative, sketch->min(), sketch->max());
    uint64_t times = count;
    if (scaled) {
      times = std::max<uint64_t>(
          1, static_cast<uint64_t>(static_cast<long double>(count) * cap / total));
    }
    append(v, times);
  });
  return written;
}

void WriteSelfMetrics(SeriesWriter& writer, const std::vector<SelfMetric>& metrics, int64_t ts,
                      const std::string& host, SelfMetricTotals* totals) {
  for (const SelfMetric& metric : metrics) {
    std::string_view base = metric.name;
    if (base.substr(0, 7) == "tallyd_") base.remove_prefix(7);
    std::string name = "tallyd.";
    name += base;
    ResolvedTags tags;
    tags.host = host;
    tags.json = "[";
    std::string key = metric.name;
    for (size_t i = 0; i < metric.labels.size(); ++i) {
      if (i > 0) tags.json.push_back(',');
      AppendJsonString(tags.json, metric.labels[i].first + ":" + metric.labels[i].second);
      key += '\x1f';
      key += metric.labels[i].first;
      key += '=';
      key += metric.labels[i].second;
    }
    tags.json.push_back(']');
    if (metric.kind == SelfMetric::Kind::kGauge) {
      writer.Write(name, "", kTypeGauge, false, ts, metric.value, tags);
      continue;
    }
    double increase = metric.value;
    if (totals != nullptr) {
      auto [it, inserted] = totals->try_emplace(key, 0.0);
      // A total below the previous one means the counter restarted: all of it is new.
      if (metric.value >= it->second) increase = metric.value - it->second;
      it->second = metric.value;
    }
    writer.Write(name, "", kTypeCount, true, ts, increase, tags);
  }
}

void AppendEvent(std::string& item, const aggregator::EventRecord& event, int64_t flush_ts,
                 const std::string& host) {
  item += "{\"title\":";
  AppendJsonString(item, event.title);
  item += ",\"text\":";
  AppendJsonString(item, event.text);
  item += ",\"date_happened\":";
  AppendJsonInteger(item, event.timestamp != 0 ? event.timestamp : flush_ts);
  const std::string& event_host = event.hostname.empty() ? host : event.hostname;
  auto optional = [&](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    item += ",\"";
    item += key;
    item += "\":";
    AppendJsonString(item, value);
  };
  optional("host", event_host);
  optional("aggregation_key", event.aggregation_key);
  optional("priority", event.priority);
  optional("source_type_name", event.source_type);
  optional("alert_type", event.alert_type);
  item += ",\"tags\":";
  AppendTagsJson(item, event.tags);
  item.push_back('}');
}

void AppendCheck(std::string& item, const aggregator::ServiceCheckRecord& check, int64_t flush_ts,
                 const std::string& host) {
  item += "{\"check\":";
  AppendJsonString(item, check.name);
  item += ",\"host_name\":";
  AppendJsonString(item, check.hostname.empty() ? host : check.hostname);
  item += ",\"status\":";
  AppendJsonInteger(item, check.status);
  item += ",\"timestamp\":";
  AppendJsonInteger(item, check.timestamp != 0 ? check.timestamp : flush_ts);
  if (!check.message.empty()) {
    item += ",\"message\":";
    AppendJsonString(item, check.message);
  }
  item += ",\"tags\":";
  AppendTagsJson(item, check.tags);
  item.push_back('}');
}

}  // namespace

std::string_view DatadogPath(DatadogEndpoint endpoint) {
  switch (endpoint) {
    case DatadogEndpoint::kSeries:
      return "/api/v2/series";
    case DatadogEndpoint::kDistributionPoints:
      return "/api/v1/distribution_points";
    case DatadogEndpoint::kCheckRun:
      return "/api/v1/check_run";
    case DatadogEndpoint::kEvents:
      return "/api/v1/events";
  }
  return "";
}

DatadogLimits DatadogLimitsFor(DatadogEndpoint endpoint) {
  switch (endpoint) {
    case DatadogEndpoint::kSeries:
      return {512000, 5242880, 10000};
    case DatadogEndpoint::kDistributionPoints:
    case DatadogEndpoint::kCheckRun:
    case DatadogEndpoint::kEvents:
      return {2621440, 4194304, 0};
  }
  return {};
}

std::string DatadogPercentileSuffix(double p) {
  return "." + std::to_string(PercentileInt(p)) + "percentile";
}

std::string DatadogPayload::Body() const {
  std::string body;
  body.reserve(item_bytes + items.size() + 16);
  switch (endpoint) {
    case DatadogEndpoint::kEvents:
      // The v1 events endpoint takes one event per request.
      if (!items.empty()) body = items.front();
      return body;
    case DatadogEndpoint::kCheckRun:
      body.push_back('[');
      break;
    case DatadogEndpoint::kSeries:
    case DatadogEndpoint::kDistributionPoints:
      body += "{\"series\":[";
      break;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) body.push_back(',');
    body += items[i];
  }
  body += endpoint == DatadogEndpoint::kCheckRun ? "]" : "]}";
  return body;
}

std::pair<DatadogPayload, DatadogPayload> SplitDatadogPayload(DatadogPayload payload) {
  std::pair<DatadogPayload, DatadogPayload> halves;
  halves.first.endpoint = halves.second.endpoint = payload.endpoint;
  const size_t n = payload.items.size();
  // The first i items, 1 <= i < n, holding about half the bytes.
  size_t i = std::min<size_t>(1, n);
  size_t bytes = n > 0 ? payload.items[0].size() : 0;
  while (i + 1 < n && bytes + payload.items[i].size() <= payload.item_bytes / 2) {
    bytes += payload.items[i].size();
    ++i;
  }
  for (size_t j = 0; j < payload.items.size(); ++j) {
    DatadogPayload& side = j < i ? halves.first : halves.second;
    side.item_bytes += payload.items[j].size();
    side.items.push_back(std::move(payload.items[j]));
  }
  return halves;
}

void FormatDatadogInto(const Flush& flush, const DatadogFormatOptions& options,
                       SelfMetricTotals* totals, DatadogItemSink* sink, DatadogFormatStats* stats) {
  DatadogFormatStats ignored;
  if (stats == nullptr) stats = &ignored;
  const aggregator::Snapshot* snapshot = flush.snapshot.get();
  int64_t ts =
      snapshot != nullptr ? snapshot->flush_unix_seconds : absl::ToUnixSeconds(absl::Now());
  int64_t interval = 1;
  if (snapshot != nullptr) {
    interval = std::max<int64_t>(1, absl::ToInt64Seconds(snapshot->interval));
  }
  SeriesWriter writer(sink, interval, stats);
  // One for the whole flush: its buffer is reused from series to series.
  ResolvedTags tags;
  auto distribution = [&](std::string_view name, int64_t at, auto&& append_values) {
    std::string& item = sink->BeginItem(DatadogEndpoint::kDistributionPoints);
    AppendDistributionHead(item, name, at);
    const size_t values = append_values(item);
    if (values > 0) AppendDistributionTail(item, tags);
    sink->EndItem(DatadogEndpoint::kDistributionPoints, values > 0);
  };

  if (snapshot != nullptr) {
    for (const aggregator::SeriesValue& series : snapshot->series) {
      if (series.key == nullptr) continue;
      const aggregator::SeriesKey& key = *series.key;
      const aggregator::SampleSummary* summary = snapshot->SummaryOf(series);
      switch (key.type()) {
        case MetricType::kCounter:
          tags.Resolve(key.tags(), options.host);
          writer.Write(key.name(), "", kTypeRate, true, ts, snapshot->RateOf(series), tags);
          break;
        case MetricType::kGauge:
          if (series.idle && !options.resend_idle_gauges) break;
          tags.Resolve(key.tags(), options.host);
          writer.Write(key.name(), "", kTypeGauge, false, ts, series.value, tags);
          break;
        case MetricType::kSet:
          if (series.idle) break;
          tags.Resolve(key.tags(), options.host);
          writer.Write(key.name(), "", kTypeGauge, false, ts, series.value, tags);
          break;
        case MetricType::kTimer:
        case MetricType::kHistogram:
          if (series.idle || summary == nullptr || summary->samples == 0) break;
          tags.Resolve(key.tags(), options.host);
          WriteHistogram(writer, key, *summary, tags, ts, options);
          break;
        case MetricType::kDistribution: {
          if (series.idle || summary == nullptr || summary->samples == 0) break;
          tags.Resolve(key.tags(), options.host);
          distribution(key.name(), ts, [&](std::string& item) {
            return AppendDistributionValues(item, *summary, options.max_distribution_values, stats);
          });
          break;
        }
      }
    }
    for (const aggregator::TimedPoint& point : snapshot->timestamped_points) {
      if (point.key == nullptr) continue;
      const aggregator::SeriesKey& key = *point.key;
      tags.Resolve(key.tags(), options.host);
      switch (key.type()) {
        case MetricType::kCounter:
        case MetricType::kSet:
          writer.Write(key.name(), "", kTypeCount, false, point.timestamp, point.value, tags);
          break;
        case MetricType::kGauge:
        case MetricType::kTimer:
        case MetricType::kHistogram:
          writer.Write(key.name(), "", kTypeGauge, false, point.timestamp, point.value, tags);
          break;
        case MetricType::kDistribution: {
          if (!std::isfinite(point.value)) {
            ++stats->values_skipped;
            break;
          }
          distribution(key.name(), point.timestamp, [&](std::string& item) -> size_t {
            AppendJsonNumber(item, point.value);
            return 1;
          });
          break;
        }
      }
    }
  }
  if (options.self_metrics && flush.self_metrics != nullptr) {
    WriteSelfMetrics(writer, *flush.self_metrics, ts, options.host, totals);
  }
  if (snapshot != nullptr) {
    for (const aggregator::ServiceCheckRecord& check : snapshot->service_checks) {
      AppendCheck(sink->BeginItem(DatadogEndpoint::kCheckRun), check, ts, options.host);
      sink->EndItem(DatadogEndpoint::kCheckRun, true);
    }
    for (const aggregator::EventRecord& event : snapshot->events) {
      AppendEvent(sink->BeginItem(DatadogEndpoint::kEvents), event, ts, options.host);
      sink->EndItem(DatadogEndpoint::kEvents, true);
    }
  }
}

std::vector<DatadogPayload> FormatDatadog(const Flush& flush, const DatadogFormatOptions& options,
                                          SelfMetricTotals* totals, DatadogFormatStats* stats) {
  PayloadSink sink(options);
  FormatDatadogInto(flush, options, totals, &sink, stats);
  return sink.Take();
}

}  // namespace tallyd::backends
