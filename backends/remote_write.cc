#include "backends/remote_write.h"

#include <curl/curl.h>
#include <glog/logging.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "aggregator/snapshot.h"

namespace tallyd::backends {
namespace {

constexpr size_t kMaxResponseBody = 4096;  // kept for messages; the rest is read and dropped
constexpr size_t kMaxBodyInMessage = 512;
constexpr absl::Duration kMaxRetryAfter = absl::Hours(1);

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

bool HeaderIs(absl::string_view line, absl::string_view name) {
  return line.size() > name.size() && line[name.size()] == ':' &&
         absl::EqualsIgnoreCase(line.substr(0, name.size()), name);
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  std::string& body = *static_cast<std::string*>(user);
  const size_t bytes = size * count;
  if (body.size() < kMaxResponseBody) {
    body.append(data, std::min(bytes, kMaxResponseBody - body.size()));
  }
  return bytes;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  absl::string_view line(data, size * count);
  if (HeaderIs(line, "retry-after")) {
    *static_cast<std::string*>(user) =
        std::string(absl::StripAsciiWhitespace(line.substr(sizeof("retry-after"))));
  }
  return size * count;
}

// Called by libcurl at least once a second during a transfer, and more often while data flows;
// a non-zero return aborts the transfer (the stop deadline passed).
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* deadline_ns = static_cast<const std::atomic<int64_t>*>(user);
  return absl::Now() >= absl::FromUnixNanos(deadline_ns->load()) ? 1 : 0;
}

// Retry-After in seconds or as an HTTP date; 0 when absent or unreadable.
absl::Duration RetryAfter(const std::string& value) {
  if (value.empty()) return absl::ZeroDuration();
  absl::Duration after = absl::ZeroDuration();
  int64_t seconds = 0;
  if (absl::SimpleAtoi(value, &seconds)) {
    after = absl::Seconds(seconds);
  } else if (time_t when = curl_getdate(value.c_str(), nullptr); when > 0) {
    after = absl::FromTimeT(when) - absl::Now();
  }
  return std::clamp(after, absl::ZeroDuration(), kMaxRetryAfter);
}

std::string BodyForMessage(std::string_view body) {
  std::string out(body.substr(0, kMaxBodyInMessage));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (body.size() > kMaxBodyInMessage) out += "...";
  return out;
}

}  // namespace

struct RemoteWriteBackend::Response {
  CURLcode code = CURLE_OK;
  bool stopped = false;
  std::string error;
  long status = 0;
  std::string body;
  std::string retry_after;
};

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
  static std::once_flag curl_once;
  static CURLcode curl_init = CURLE_OK;
  std::call_once(curl_once, [] { curl_init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (curl_init != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("remote_write: libcurl: ", curl_easy_strerror(curl_init)));
  }
  std::unique_ptr<RemoteWriteBackend> backend(new RemoteWriteBackend(std::move(options)));
  if (absl::Status status = backend->Init(); !status.ok()) return status;
  return backend;
}

RemoteWriteBackend::RemoteWriteBackend(RemoteWriteOptions options)
    : options_(std::move(options)), state_(options_.conversion) {}

RemoteWriteBackend::~RemoteWriteBackend() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
  curl_slist_free_all(static_cast<curl_slist*>(headers_));
  std::fill(authorization_.begin(), authorization_.end(), '\0');
  std::fill(basic_credentials_.begin(), basic_credentials_.end(), '\0');
}

absl::Status RemoteWriteBackend::Init() {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("remote_write: curl_easy_init failed");
  curl_ = curl;
  if (!options_.username.empty()) {
    basic_credentials_ = absl::Base64Escape(options_.username + ":" + options_.password);
    authorization_ = "Authorization: Basic " + basic_credentials_;
  } else if (!options_.bearer_token.empty()) {
    authorization_ = "Authorization: Bearer " + options_.bearer_token;
  }
  curl_slist* headers = nullptr;
  for (const char* fixed : {"Content-Encoding: snappy", "Content-Type: application/x-protobuf",
                            "X-Prometheus-Remote-Write-Version: 0.1.0", "Expect:"}) {
    headers = curl_slist_append(headers, fixed);
  }
  for (const auto& [name, value] : options_.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  if (!authorization_.empty()) headers = curl_slist_append(headers, authorization_.c_str());
  headers_ = headers;
  const long timeout_ms =
      static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "tallyd");
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stop_deadline_ns_);
  return absl::OkStatus();
}

void RemoteWriteBackend::StopBy(absl::Time deadline) {
  stop_deadline_ns_.store(absl::ToUnixNanos(deadline));
}

RemoteWriteStats RemoteWriteBackend::stats() const {
  RemoteWriteStats s;
  s.requests_sent = requests_sent_.load();
  s.requests_failed = requests_failed_.load();
  s.requests_rejected = requests_rejected_.load();
  s.samples_sent = samples_sent_.load();
  s.bytes_sent = bytes_sent_.load();
  s.flushes_unseen = flushes_unseen_.load();
  return s;
}

std::string RemoteWriteBackend::Redact(std::string text) const {
  for (const std::string* secret :
       {&authorization_, &basic_credentials_, &options_.password, &options_.bearer_token}) {
    if (secret->empty()) continue;
    for (size_t at = text.find(*secret); at != std::string::npos; at = text.find(*secret, at)) {
      text.replace(at, secret->size(), "<redacted>");
    }
  }
  return text;
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
  pending_.clear();
  next_ = 0;
  rejections_.clear();
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

RemoteWriteBackend::Response RemoteWriteBackend::Post(const RemoteWriteRequest& request) {
  CURL* curl = static_cast<CURL*>(curl_);
  Response response;
  if (absl::Now() >= absl::FromUnixNanos(stop_deadline_ns_.load())) {
    response.stopped = true;  // not started: no half-sent request
    response.code = CURLE_ABORTED_BY_CALLBACK;
    response.error = "abandoned at the stop deadline (shutdown_timeout)";
    return response;
  }
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.retry_after);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  response.code = curl_easy_perform(curl);
  if (response.code == CURLE_ABORTED_BY_CALLBACK) {
    response.stopped = true;
    response.error = "abandoned at the stop deadline (shutdown_timeout)";
  } else if (response.code != CURLE_OK) {
    response.error = error[0] != '\0' ? error : curl_easy_strerror(response.code);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  }
  // Nothing may point at this frame once we return.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, nullptr);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
  return response;
}

Delivery RemoteWriteBackend::Deliver(const Flush& flush) {
  if (!in_progress_ || flush.snapshot != current_snapshot_ || flush.self_metrics != current_self_) {
    // A new flush (one left unfinished before was dropped by the runner, its series already
    // folded in: the next flush re-sends their cumulative values). Without the runner (tests,
    // a caller of Deliver alone) it may not have been observed yet.
    if (!Observed(flush)) Observe(flush);
    Prepare();
    current_snapshot_ = flush.snapshot;
    current_self_ = flush.self_metrics;
    in_progress_ = true;
  }
  const uint64_t sequence = flush.snapshot != nullptr ? flush.snapshot->sequence : 0;
  const size_t total = pending_.size();
  auto finish = [this] {
    in_progress_ = false;
    current_snapshot_.reset();
    current_self_.reset();
    pending_.clear();
    next_ = 0;
  };
  while (next_ < pending_.size()) {
    const RemoteWriteRequest& request = pending_[next_];
    Response response = Post(request);
    const std::string which = absl::StrCat("request ", next_ + 1, " of ", total, " of flush ",
                                           sequence, ", ", request.samples, " samples");
    const std::string where = "remote_write POST " + options_.url;
    if (response.code != CURLE_OK) {
      ++requests_failed_;
      std::string message = Redact(absl::StrCat(where, ": ", response.error, " (", which, ")"));
      return Delivery::Retry(response.stopped ? absl::DeadlineExceededError(message)
                                              : absl::UnavailableError(message));
    }
    const long status = response.status;
    if (status >= 200 && status < 300) {
      ++requests_sent_;
      samples_sent_ += request.samples;
      bytes_sent_ += request.body.size();
      ++next_;
      continue;
    }
    std::string message = Redact(
        absl::StrCat(where, ": HTTP ", status, " (", which, "): ", BodyForMessage(response.body)));
    if (status == 429 || status >= 500 || status < 200) {
      ++requests_failed_;
      absl::Duration after = RetryAfter(response.retry_after);
      return Delivery::Retry(
          status == 429 ? absl::ResourceExhaustedError(message) : absl::UnavailableError(message),
          after);
    }
    // Other 4xx (and 3xx: redirects are not followed with a body): the receiver will never take
    // this request (out of order samples, a bad label, no such tenant): drop it, send the rest.
    ++requests_rejected_;
    rejections_.push_back(std::move(message));
    ++next_;
  }
  finish();
  if (!rejections_.empty()) {
    std::string message = rejections_.front();
    if (rejections_.size() > 1) {
      absl::StrAppend(&message, "; ", rejections_.size(), " of ", total,
                      " requests of this flush rejected");
    }
    rejections_.clear();
    return Delivery::Rejected(absl::InvalidArgumentError(message));
  }
  return Delivery::Delivered();
}

}  // namespace tallyd::backends
