#include "backends/console.h"

#include <glog/logging.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iostream>
#include <ostream>

#include "absl/status/status.h"
#include "aggregator/snapshot.h"
#include "backends/json_text.h"

namespace tallyd::backends {
namespace {

using aggregator::MetricType;

// Builds one object of "key":value members; the caller opens nested objects as needed.
class JsonObject {
 public:
  // `skipped` counts the numbers left out (NaN and infinities, which JSON cannot carry).
  explicit JsonObject(std::string& out, uint64_t* skipped = nullptr)
      : out_(out), skipped_(skipped) {
    out_.push_back('{');
  }
  void Key(std::string_view key) {
    if (!first_) out_.push_back(',');
    first_ = false;
    AppendJsonString(out_, key);
    out_.push_back(':');
  }
  void String(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonString(out_, value);
  }
  void Number(std::string_view key, double value) {
    if (!std::isfinite(value)) {
      if (skipped_ != nullptr) ++*skipped_;
      return;
    }
    Key(key);
    AppendJsonNumber(out_, value);
  }
  void Integer(std::string_view key, int64_t value) {
    Key(key);
    AppendJsonInteger(out_, value);
  }
  // A canonical tag list ("a:1,b") as a JSON array of strings.
  void Tags(std::string_view key, std::string_view tags) {
    Key(key);
    out_.push_back('[');
    bool first = true;
    protocol::ForEachTag(tags, [&](std::string_view tag) {
      if (!first) out_.push_back(',');
      first = false;
      AppendJsonString(out_, tag);
    });
    out_.push_back(']');
  }
  void StringIfPresent(std::string_view key, std::string_view value) {
    if (!value.empty()) String(key, value);
  }
  void Close() { out_.push_back('}'); }

 private:
  std::string& out_;
  uint64_t* const skipped_;
  bool first_ = true;
};

// {"name":..,"type":..,"tags":[..],"ts":..,"values":{ — the caller writes values and closes.
void OpenSeries(std::string& out, const aggregator::SeriesKey& key, int64_t ts) {
  JsonObject object(out);
  object.String("name", key.name());
  object.String("type", protocol::MetricTypeName(key.type()));
  object.Tags("tags", key.tags());
  object.Integer("ts", ts);
  object.Key("values");
}

void AppendSummary(JsonObject& values, const aggregator::Snapshot& snapshot,
                   const aggregator::SampleSummary& summary) {
  values.Number("count", summary.count);
  values.Number("count_ps", summary.count_ps);
  values.Number("sum", summary.sum);
  values.Number("sum_squares", summary.sum_squares);
  values.Number("lower", summary.lower);
  values.Number("upper", summary.upper);
  values.Number("mean", summary.mean);
  values.Number("median", summary.median);
  values.Number("std", summary.std);
  size_t n = std::min(summary.percentiles.size(), snapshot.percentiles.size());
  for (size_t i = 0; i < n; ++i) {
    const aggregator::PercentileValue& value = summary.percentiles[i];
    if (!value.present) continue;
    const aggregator::PercentileSpec& spec = snapshot.percentiles[i];
    values.Number(spec.count_name, value.count);
    values.Number(spec.mean_name, value.mean);
    values.Number(spec.bound_name, value.bound);
    values.Number(spec.sum_name, value.sum);
    values.Number(spec.sum_squares_name, value.sum_squares);
  }
}

void AppendSeries(std::string& out, const aggregator::Snapshot& snapshot,
                  const aggregator::SeriesValue& series, uint64_t& skipped) {
  const aggregator::SeriesKey& key = *series.key;
  const aggregator::SampleSummary* summary = nullptr;
  switch (key.type()) {
    case MetricType::kSet:
      if (series.idle) return;
      break;
    case MetricType::kTimer:
    case MetricType::kHistogram:
    case MetricType::kDistribution:
      summary = snapshot.SummaryOf(series);
      if (series.idle || summary == nullptr) return;
      break;
    case MetricType::kCounter:
    case MetricType::kGauge:
      break;
  }
  OpenSeries(out, key, snapshot.flush_unix_seconds);
  JsonObject values(out, &skipped);
  switch (key.type()) {
    case MetricType::kCounter:
      values.Number("count", series.value);
      values.Number("rate", snapshot.RateOf(series));
      break;
    case MetricType::kGauge:
      values.Number("value", series.value);
      break;
    case MetricType::kSet:
      values.Number("count", series.value);
      break;
    case MetricType::kTimer:
    case MetricType::kHistogram:
    case MetricType::kDistribution:
      AppendSummary(values, snapshot, *summary);
      break;
  }
  values.Close();
  out += "}\n";
}

void AppendPoint(std::string& out, const aggregator::TimedPoint& point, uint64_t& skipped) {
  OpenSeries(out, *point.key, point.timestamp);
  JsonObject values(out, &skipped);
  bool counted = point.key->type() == MetricType::kCounter || point.key->type() == MetricType::kSet;
  values.Number(counted ? "count" : "value", point.value);
  values.Close();
  out += "}\n";
}

void AppendEvent(std::string& out, const aggregator::EventRecord& event, int64_t flush_ts) {
  JsonObject object(out);
  object.String("type", "event");
  object.String("title", event.title);
  object.String("text", event.text);
  object.Tags("tags", event.tags);
  object.Integer("ts", event.timestamp != 0 ? event.timestamp : flush_ts);
  object.StringIfPresent("hostname", event.hostname);
  object.StringIfPresent("aggregation_key", event.aggregation_key);
  object.StringIfPresent("priority", event.priority);
  object.StringIfPresent("source_type", event.source_type);
  object.StringIfPresent("alert_type", event.alert_type);
  object.Close();
  out.push_back('\n');
}

void AppendServiceCheck(std::string& out, const aggregator::ServiceCheckRecord& check,
                        int64_t flush_ts) {
  JsonObject object(out);
  object.String("type", "service_check");
  object.String("name", check.name);
  object.Integer("status", check.status);
  object.Tags("tags", check.tags);
  object.Integer("ts", check.timestamp != 0 ? check.timestamp : flush_ts);
  object.StringIfPresent("hostname", check.hostname);
  object.StringIfPresent("message", check.message);
  object.Close();
  out.push_back('\n');
}

void AppendSelfMetric(std::string& out, const SelfMetric& metric, int64_t ts, uint64_t& skipped) {
  JsonObject object(out);
  object.String("name", metric.name);
  object.String("type", metric.kind == SelfMetric::Kind::kCounter ? "counter" : "gauge");
  object.Key("tags");
  out.push_back('[');
  for (size_t i = 0; i < metric.labels.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, metric.labels[i].first + ":" + metric.labels[i].second);
  }
  out.push_back(']');
  object.Integer("ts", ts);
  object.Key("values");
  JsonObject values(out, &skipped);
  values.Number("value", metric.value);
  values.Close();
  object.Close();
  out.push_back('\n');
}

}  // namespace

std::string FormatConsole(const Flush& flush, const ConsoleOptions& options,
                          uint64_t* non_finite_values) {
  uint64_t skipped = 0;
  std::string out;
  int64_t ts = 0;
  if (flush.snapshot != nullptr) {
    const aggregator::Snapshot& snapshot = *flush.snapshot;
    ts = snapshot.flush_unix_seconds;
    for (const aggregator::SeriesValue& series : snapshot.series) {
      if (series.key != nullptr) AppendSeries(out, snapshot, series, skipped);
    }
    for (const aggregator::TimedPoint& point : snapshot.timestamped_points) {
      if (point.key != nullptr) AppendPoint(out, point, skipped);
    }
    for (const aggregator::EventRecord& event : snapshot.events) AppendEvent(out, event, ts);
    for (const aggregator::ServiceCheckRecord& check : snapshot.service_checks) {
      AppendServiceCheck(out, check, ts);
    }
  }
  if (options.self_metrics && flush.self_metrics != nullptr) {
    for (const SelfMetric& metric : *flush.self_metrics) {
      AppendSelfMetric(out, metric, ts, skipped);
    }
  }
  if (non_finite_values != nullptr) *non_finite_values += skipped;
  return out;
}

ConsoleBackend::ConsoleBackend(ConsoleOptions options) : ConsoleBackend(options, &std::cout) {}

ConsoleBackend::ConsoleBackend(ConsoleOptions options, std::ostream* out)
    : options_(options), out_(out) {}

Delivery ConsoleBackend::Deliver(const Flush& flush) {
  uint64_t skipped = 0;
  std::string text = FormatConsole(flush, options_, &skipped);
  if (skipped > 0) {
    non_finite_values_.fetch_add(skipped, std::memory_order_relaxed);
    LOG_EVERY_T(WARNING, 60) << "console: left out " << skipped
                             << " NaN or infinite values (JSON cannot carry them)";
  }
  out_->write(text.data(), static_cast<std::streamsize>(text.size()));
  out_->flush();
  if (!*out_) {
    out_->clear();
    // Retrying cannot fix a closed stdout; the runner logs and counts the lost flush.
    return Delivery::Rejected(absl::UnavailableError("console: writing to the output failed"));
  }
  return Delivery::Delivered();
}

}  // namespace tallyd::backends
