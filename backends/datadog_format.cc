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
// is not sent as a tag (the Agent's enrichment does the same).
struct ResolvedTags {
  std::string json;  // ["a:1","b"]
  std::string host;
};

ResolvedTags ResolveTags(std::string_view canonical, const std::string& default_host) {
  ResolvedTags out;
  out.host = default_host;
  out.json.push_back('[');
  bool first = true;
  protocol::ForEachTag(canonical, [&](std::string_view tag) {
    if (tag.substr(0, 5) == "host:") {
      out.host = std::string(tag.substr(5));
      return;
    }
    if (!first) out.json.push_back(',');
    first = false;
    AppendJsonString(out.json, tag);
  });
  out.json.push_back(']');
  return out;
}

std::string TagsJson(std::string_view canonical) {
  std::string json = "[";
  bool first = true;
  protocol::ForEachTag(canonical, [&](std::string_view tag) {
    if (!first) json.push_back(',');
    first = false;
    AppendJsonString(json, tag);
  });
  json.push_back(']');
  return json;
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

// Writes v2 series items for one flush.
class SeriesWriter {
 public:
  SeriesWriter(PayloadPacker* packer, int64_t interval_seconds, DatadogFormatStats* stats)
      : packer_(packer), interval_(interval_seconds), stats_(stats) {}

  // One point. `interval` is sent for rates and counts of an interval.
  void Write(std::string_view name, std::string_view suffix, int type, bool with_interval,
             int64_t ts, double value, const ResolvedTags& tags) {
    if (!std::isfinite(value)) {
      ++stats_->values_skipped;
      return;
    }
    std::string item;
    item.reserve(96 + name.size() + tags.json.size());
    item += "{\"metric\":";
    std::string metric(name);
    metric += suffix;
    AppendJsonString(item, metric);
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
    packer_->Add(std::move(item));
  }

 private:
  PayloadPacker* const packer_;
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

// {"metric":..,"points":[[ts,[values]]],"tags":[..],"host":..,"type":"distribution"} with the
// values the caller appends between `head` and `tail`.
struct DistributionItem {
  std::string head;
  std::string tail;
};

DistributionItem OpenDistribution(std::string_view name, int64_t ts, const ResolvedTags& tags) {
  DistributionItem item;
  item.head = "{\"metric\":";
  AppendJsonString(item.head, name);
  item.head += ",\"points\":[[";
  AppendJsonInteger(item.head, ts);
  item.head += ",[";
  item.tail = "]]],\"tags\":";
  item.tail += tags.json;
  if (!tags.host.empty()) {
    item.tail += ",\"host\":";
    AppendJsonString(item.tail, tags.host);
  }
  item.tail += ",\"type\":\"distribution\"}";
  return item;
}

// The values of one interval of a distribution (see DatadogFormatOptions).
std::string DistributionValues(const aggregator::SampleSummary& summary, size_t cap,
                               DatadogFormatStats* stats) {
  std::string values;
  bool first = true;
  auto append = [&](const std::string& text, uint64_t times) {
    for (uint64_t i = 0; i < times; ++i) {
      if (!first) values.push_back(',');
      first = false;
      values += text;
    }
  };
  auto format = [&](double v) {
    std::string text;
    AppendJsonNumber(text, v);
    return text;
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
      append(format(v), 1);
    }
    return values;
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
    append(format(v), times);
  });
  return values;
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

std::string EventItem(const aggregator::EventRecord& event, int64_t flush_ts,
                      const std::string& host) {
  std::string item = "{\"title\":";
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
  item += TagsJson(event.tags);
  item.push_back('}');
  return item;
}

std::string CheckItem(const aggregator::ServiceCheckRecord& check, int64_t flush_ts,
                      const std::string& host) {
  std::string item = "{\"check\":";
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
  item += TagsJson(check.tags);
  item.push_back('}');
  return item;
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

std::vector<DatadogPayload> FormatDatadog(const Flush& flush, const DatadogFormatOptions& options,
                                          SelfMetricTotals* totals, DatadogFormatStats* stats) {
  DatadogFormatStats ignored;
  if (stats == nullptr) stats = &ignored;
  std::vector<DatadogPayload> series_out, distribution_out, check_out, event_out;
  PayloadPacker series_packer(DatadogEndpoint::kSeries, options.series_limits, &series_out);
  PayloadPacker distribution_packer(DatadogEndpoint::kDistributionPoints,
                                    options.distribution_limits, &distribution_out);
  PayloadPacker check_packer(DatadogEndpoint::kCheckRun, options.check_run_limits, &check_out);

  const aggregator::Snapshot* snapshot = flush.snapshot.get();
  int64_t ts =
      snapshot != nullptr ? snapshot->flush_unix_seconds : absl::ToUnixSeconds(absl::Now());
  int64_t interval = 1;
  if (snapshot != nullptr) {
    interval = std::max<int64_t>(1, absl::ToInt64Seconds(snapshot->interval));
  }
  SeriesWriter writer(&series_packer, interval, stats);

  if (snapshot != nullptr) {
    for (const aggregator::SeriesValue& series : snapshot->series) {
      if (series.key == nullptr) continue;
      const aggregator::SeriesKey& key = *series.key;
      const aggregator::SampleSummary* summary = snapshot->SummaryOf(series);
      switch (key.type()) {
        case MetricType::kCounter:
          writer.Write(key.name(), "", kTypeRate, true, ts, series.rate,
                       ResolveTags(key.tags(), options.host));
          break;
        case MetricType::kGauge:
          if (series.idle && !options.resend_idle_gauges) break;
          writer.Write(key.name(), "", kTypeGauge, false, ts, series.value,
                       ResolveTags(key.tags(), options.host));
          break;
        case MetricType::kSet:
          if (series.idle) break;
          writer.Write(key.name(), "", kTypeGauge, false, ts, series.value,
                       ResolveTags(key.tags(), options.host));
          break;
        case MetricType::kTimer:
        case MetricType::kHistogram:
          if (series.idle || summary == nullptr || summary->samples == 0) break;
          WriteHistogram(writer, key, *summary, ResolveTags(key.tags(), options.host), ts, options);
          break;
        case MetricType::kDistribution: {
          if (series.idle || summary == nullptr || summary->samples == 0) break;
          std::string values = DistributionValues(*summary, options.max_distribution_values, stats);
          if (values.empty()) break;
          DistributionItem item =
              OpenDistribution(key.name(), ts, ResolveTags(key.tags(), options.host));
          distribution_packer.Add(item.head + values + item.tail);
          break;
        }
      }
    }
    for (const aggregator::TimedPoint& point : snapshot->timestamped_points) {
      if (point.key == nullptr) continue;
      const aggregator::SeriesKey& key = *point.key;
      ResolvedTags tags = ResolveTags(key.tags(), options.host);
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
          DistributionItem item = OpenDistribution(key.name(), point.timestamp, tags);
          std::string value;
          AppendJsonNumber(value, point.value);
          distribution_packer.Add(item.head + value + item.tail);
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
      check_packer.Add(CheckItem(check, ts, options.host));
    }
    for (const aggregator::EventRecord& event : snapshot->events) {
      DatadogPayload payload;
      payload.endpoint = DatadogEndpoint::kEvents;
      payload.items.push_back(EventItem(event, ts, options.host));
      payload.item_bytes = payload.items.back().size();
      event_out.push_back(std::move(payload));
    }
  }
  series_packer.Finish();
  distribution_packer.Finish();
  check_packer.Finish();

  std::vector<DatadogPayload> out = std::move(series_out);
  for (auto* part : {&distribution_out, &check_out, &event_out}) {
    for (DatadogPayload& payload : *part) out.push_back(std::move(payload));
  }
  return out;
}

}  // namespace tallyd::backends
