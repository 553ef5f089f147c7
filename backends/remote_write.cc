#include "backends/remote_write.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "aggregator/snapshot.h"

namespace tallyd::backends {
namespace {

// Walks a PrometheusState into an encoder: summaries as `quantile` series plus _sum and _count,
// histograms as cumulative `_bucket{le}` series (+Inf = the count) plus _sum and _count, as the
// text format spells them on the scrape endpoint.
class SeriesEncoder : public PrometheusVisitor {
 public:
  SeriesEncoder(RemoteWriteEncoder* encoder, const PrometheusConversionOptions& options)
      : encoder_(encoder) {
    for (double q : options.quantiles) quantiles_.push_back(FormatPrometheusFloat(q));
    for (double b : options.buckets) bounds_.push_back(FormatPrometheusFloat(b));
  }

  void Family(const PrometheusFamilyView& family) override {
    type_ = family.type;
    name_.assign(family.name);
    sum_ = name_ + "_sum";
    count_ = name_ + "_count";
    bucket_ = name_ + "_bucket";
  }

  void Series(const PrometheusSeriesView& series) override {
    switch (type_) {
      case PrometheusType::kCounter:
      case PrometheusType::kGauge:
        encoder_->Add(name_, series.labels, series.value);
        return;
      case PrometheusType::kSummary:
        for (size_t i = 0; i < series.quantile_values.size(); ++i) {
          encoder_->Add(name_, series.labels, series.quantile_values[i],
                        {"quantile", Formatted(quantiles_, series.quantile_levels, i)});
        }
        break;
      case PrometheusType::kHistogram:
        for (size_t i = 0; i < series.bucket_counts.size(); ++i) {
          encoder_->Add(bucket_, series.labels, static_cast<double>(series.bucket_counts[i]),
                        {"le", Formatted(bounds_, series.bucket_bounds, i)});
        }
        encoder_->Add(bucket_, series.labels, static_cast<double>(series.count), {"le", "+Inf"});
        break;
    }
    encoder_->Add(sum_, series.labels, series.sum);
    encoder_->Add(count_, series.labels, static_cast<double>(series.count));
  }

 private:
  // The label value of level i, formatted once per backend when it is one of the options'.
  std::string_view Formatted(const std::vector<std::string>& cached, std::span<const double> levels,
                             size_t i) {
    if (levels.size() == cached.size()) return cached[i];
    scratch_ = FormatPrometheusFloat(levels[i]);
    return scratch_;
  }

  RemoteWriteEncoder* encoder_;
  std::vector<std::string> quantiles_, bounds_;
  PrometheusType type_ = PrometheusType::kCounter;
  std::string name_, sum_, count_, bucket_, scratch_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RemoteWriteBackend>> RemoteWriteBackend::Create(
    RemoteWriteOptions options) {
  if (!absl::StartsWith(options.url, "http://") && !absl::StartsWith(options.url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("remote_write: url must be http:// or https://, got \"", options.url, "\""));
  }
  if (absl::Status status = ValidatePrometheusConversionOptions(options.conversion); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("remote_write: ", status.message()));
  }
  if (options.max_backoff <= absl::ZeroDuration() || options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("remote_write: max_backoff and timeout must be > 0");
  }
  std::sort(options.external_labels.begin(), options.external_labels.end());
  HttpDeliveryOptions http;
  http.name = "remote_write";
  http.timeout = options.timeout;
  http.headers = {"Content-Type: application/x-protobuf",
                  "X-Prometheus-Remote-Write-Version: 0.1.0"};
  http.retry_after_on_server_error = true;
  for (const auto& [name, value] : options.headers) {
    http.headers.push_back(absl::StrCat(name, ": ", value));
  }
  // Credentials travel only in the Authorization header; every form of them is redacted.
  if (!options.username.empty()) {
    std::string basic = absl::Base64Escape(options.username + ":" + options.password);
    http.headers.push_back("Authorization: Basic " + basic);
    http.secrets = {http.headers.back(), std::move(basic)};
  } else if (!options.bearer_token.empty()) {
    http.headers.push_back("Authorization: Bearer " + options.bearer_token);
    http.secrets = {http.headers.back()};
  }
  http.secrets.push_back(options.password);
  http.secrets.push_back(options.bearer_token);
  absl::StatusOr<std::unique_ptr<HttpDelivery>> delivery = HttpDelivery::Create(std::move(http));
  if (!delivery.ok()) return delivery.status();
  return std::unique_ptr<RemoteWriteBackend>(
      new RemoteWriteBackend(std::move(options), std::move(*delivery)));
}

RemoteWriteBackend::RemoteWriteBackend(RemoteWriteOptions options,
                                       std::unique_ptr<HttpDelivery> http)
    : options_(std::move(options)), state_(options_.conversion), http_(std::move(http)) {}

void RemoteWriteBackend::StopBy(absl::Time deadline) { http_->StopBy(deadline); }

RemoteWriteStats RemoteWriteBackend::stats() const {
  const HttpDeliveryStats requests = http_->stats();
  RemoteWriteStats s;
  s.requests_sent = requests.sent;
  s.requests_failed = requests.failed;
  s.requests_rejected = requests.rejected;
  s.samples_sent = samples_sent_.load();
  s.bytes_sent = bytes_sent_.load();
  s.flushes_unseen = flushes_unseen_.load();
  return s;
}

bool RemoteWriteBackend::Observed(const Flush& flush) const {
  if (flush.snapshot != nullptr && flush.snapshot->sequence != 0) {
    return flush.snapshot->sequence <= last_sequence_;
  }
  return flush.snapshot == last_observed_snapshot_ && flush.self_metrics == last_observed_self_;
}

void RemoteWriteBackend::Observe(const Flush& flush) {
  if (flush.snapshot != nullptr && flush.snapshot->sequence != 0) {
    // With the runner every flush comes through here, so a gap means a flush skipped both
    // Observe and Deliver (a caller driving Deliver alone and skipping some).
    const uint64_t sequence = flush.snapshot->sequence;
    if (sequence <= last_sequence_) return;  // folded already
    if (last_sequence_ != 0 && sequence > last_sequence_ + 1) {
      const uint64_t unseen = sequence - last_sequence_ - 1;
      flushes_unseen_ += unseen;
      LOG_EVERY_T(WARNING, 60) << "remote_write: " << unseen << " flushes before flush " << sequence
                               << " never reached the backend: their counts are missing from the "
                                  "pushed counter and histogram totals";
    }
    last_sequence_ = sequence;
  }
  last_observed_snapshot_ = flush.snapshot;
  last_observed_self_ = flush.self_metrics;
  Flush folded = flush;
  if (!options_.self_metrics) folded.self_metrics = nullptr;
  state_.Update(folded);
  state_time_ = flush.snapshot != nullptr ? flush.snapshot->flush_time : absl::Now();
}

void RemoteWriteBackend::Prepare() {
  // The whole state as of the newest flush folded in (the one being delivered, under the
  // runner), stamped with that flush's time.
  RemoteWriteEncoder encoder(options_.external_labels, options_.max_samples_per_send,
                             absl::ToUnixMillis(state_time_));
  SeriesEncoder series(&encoder, options_.conversion);
  state_.Visit(series);
  if (options_.self_metrics) {
    for (const SelfMetric& metric : state_.CountsAsSelfMetrics()) {
      encoder.Add(metric.name, metric.labels, metric.value);
    }
  }
  pending_ = encoder.Finish();
}

Delivery RemoteWriteBackend::Deliver(const Flush& flush) {
  return http_->Deliver(
      flush,
      [&] {
        // A new flush (one left unfinished before was dropped by the runner, its series already
        // folded in: the next flush re-sends their cumulative values). Without the runner
        // (tests, a caller of Deliver alone) it may not have been observed yet.
        if (!Observed(flush)) Observe(flush);
        Prepare();
        return pending_.size();
      },
      [this](size_t i) {
        const RemoteWriteRequest& request = pending_[i];
        return HttpPost{.url = options_.url,
                        .content_encoding = "snappy",
                        .body = request.body,
                        .note = absl::StrCat(request.samples, " samples")};
      },
      [this](size_t i) {
        samples_sent_ += pending_[i].samples;
        bytes_sent_ += pending_[i].body.size();
      });
}

}  // namespace tallyd::backends
