#include "backends/datadog.h"

#include <curl/curl.h>
#include <glog/logging.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "aggregator/snapshot.h"

namespace tallyd::backends {
namespace {

constexpr size_t kMaxResponseBody = 4096;  // kept for messages; the rest is read and dropped
constexpr size_t kMaxBodyInMessage = 512;
constexpr absl::Duration kMaxRetryAfter = absl::Hours(1);
constexpr int kMaxWaitMs = 10000;  // one curl_multi_poll; curl's timers and StopBy end it sooner

bool HeaderIs(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  return true;
}

std::string HeaderValue(std::string_view line, std::string_view name) {
  std::string_view value = line.substr(name.size() + 1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) {
    value.remove_prefix(1);
  }
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
    value.remove_suffix(1);
  }
  return std::string(value);
}

// A response body fit for one log line.
std::string BodyForMessage(std::string_view body) {
  std::string out(body.substr(0, kMaxBodyInMessage));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (body.size() > kMaxBodyInMessage) out += "...";
  return out;
}

}  // namespace

struct DatadogBackend::Response {
  CURLcode code = CURLE_OK;
  bool stopped = false;  // abandoned at the stop deadline (code is then not CURLE_OK either)
  std::string error;     // why, when code != CURLE_OK
  long status = 0;
  std::string body;
  std::string retry_after;
  std::string rate_limit_reset;
};

namespace {

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  std::string& body = *static_cast<std::string*>(user);
  size_t bytes = size * count;
  if (body.size() < kMaxResponseBody) {
    body.append(data, std::min(bytes, kMaxResponseBody - body.size()));
  }
  return bytes;
}

struct HeaderSink {
  std::string* retry_after;
  std::string* rate_limit_reset;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  const HeaderSink& sink = *static_cast<HeaderSink*>(user);
  std::string_view line(data, size * count);
  if (HeaderIs(line, "retry-after")) *sink.retry_after = HeaderValue(line, "retry-after");
  if (HeaderIs(line, "x-ratelimit-reset")) {
    *sink.rate_limit_reset = HeaderValue(line, "x-ratelimit-reset");
  }
  return size * count;
}

// The peer's back-off request, 0 when it gave none we can read.
absl::Duration RetryAfter(const std::string& retry_after, const std::string& rate_limit_reset) {
  absl::Duration after = absl::ZeroDuration();
  int64_t seconds = 0;
  if (!retry_after.empty()) {
    if (absl::SimpleAtoi(retry_after, &seconds)) {
      after = absl::Seconds(seconds);
    } else if (time_t when = curl_getdate(retry_after.c_str(), nullptr); when > 0) {
      after = absl::FromTimeT(when) - absl::Now();
    }
  } else if (!rate_limit_reset.empty() && absl::SimpleAtoi(rate_limit_reset, &seconds)) {
    after = absl::Seconds(seconds);  // Datadog's X-RateLimit-Reset: seconds until the reset
  }
  return std::clamp(after, absl::ZeroDuration(), kMaxRetryAfter);
}

}  // namespace

absl::StatusOr<std::string> CompressDatadogBody(std::string_view body,
                                                DatadogCompression compression) {
  switch (compression) {
    case DatadogCompression::kNone:
      return std::string(body);
    case DatadogCompression::kDeflate: {
      uLongf size = compressBound(static_cast<uLong>(body.size()));
      std::string out(size, '\0');
      int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                         reinterpret_cast<const Bytef*>(body.data()),
                         static_cast<uLong>(body.size()), Z_DEFAULT_COMPRESSION);
      if (rc != Z_OK) return absl::InternalError("deflate failed: " + std::to_string(rc));
      out.resize(size);
      return out;
    }
    case DatadogCompression::kZstd: {
      std::string out(ZSTD_compressBound(body.size()), '\0');
      size_t size = ZSTD_compress(out.data(), out.size(), body.data(), body.size(), 1);
      if (ZSTD_isError(size)) {
        return absl::InternalError(std::string("zstd failed: ") + ZSTD_getErrorName(size));
      }
      out.resize(size);
      return out;
    }
  }
  return absl::InvalidArgumentError("unknown compression");
}

absl::StatusOr<std::unique_ptr<DatadogBackend>> DatadogBackend::Create(DatadogOptions options) {
  if (options.api_key.empty()) {
    return absl::InvalidArgumentError(
        "datadog: no API key (set backends.datadog.api_key or DD_API_KEY)");
  }
  while (!options.url.empty() && options.url.back() == '/') options.url.pop_back();
  if (options.url.empty()) return absl::InvalidArgumentError("datadog: empty url");
  if (options.max_backoff <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("datadog: max_backoff must be > 0");
  }
  static std::once_flag curl_once;
  static CURLcode curl_init = CURLE_OK;
  std::call_once(curl_once, [] { curl_init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (curl_init != CURLE_OK) {
    return absl::InternalError(std::string("datadog: libcurl: ") + curl_easy_strerror(curl_init));
  }
  std::unique_ptr<DatadogBackend> backend(new DatadogBackend(std::move(options)));
  if (absl::Status status = backend->Init(); !status.ok()) return status;
  return backend;
}

DatadogBackend::DatadogBackend(DatadogOptions options)
    : options_(std::move(options)), encoder_(options_.compression, options_.format) {}

DatadogBackend::~DatadogBackend() {
  // The easy handle is never left in the multi handle (Perform removes it): any order will do.
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

absl::Status DatadogBackend::Init() {
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError("datadog: curl_multi_init failed");
  multi_ = multi;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("datadog: curl_easy_init failed");
  curl_ = curl;
  long timeout_ms =
      static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // we run on a worker thread
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
  return absl::OkStatus();
}

void DatadogBackend::StopBy(absl::Time deadline) {
  stop_deadline_ns_.store(absl::ToUnixNanos(deadline));
  // A wait in progress returns now and re-reads the deadline; with none in progress, the next
  // wait returns at once, which is harmless.
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

DatadogStats DatadogBackend::stats() const {
  DatadogStats s;
  s.requests_sent = requests_sent_.load();
  s.requests_failed = requests_failed_.load();
  s.requests_rejected = requests_rejected_.load();
  s.payloads_too_large = payloads_too_large_.load();
  s.distributions_scaled = distributions_scaled_.load();
  return s;
}

std::string DatadogBackend::Redact(std::string text) const {
  const std::string& key = options_.api_key;
  if (key.empty()) return text;
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at)) {
    text.replace(at, key.size(), "<redacted>");
  }
  return text;
}

void DatadogBackend::Prepare(const Flush& flush) {
  pending_.clear();
  next_ = 0;
  rejections_.clear();
  DatadogFormatStats format_stats;
  const std::vector<DatadogRequest>& requests =
      encoder_.Encode(flush, options_.format, &self_totals_, &format_stats);
  pending_.assign(requests.begin(), requests.end());
  if (format_stats.distributions_scaled > 0) {
    distributions_scaled_ += format_stats.distributions_scaled;
    LOG_EVERY_T(WARNING, 60) << "datadog: " << format_stats.distributions_scaled
                             << " distributions had more than "
                             << options_.format.max_distribution_values
                             << " values this flush; sent scaled down (Datadog's count and sum "
                                "for them undercount)";
  }
  if (uint64_t dropped = encoder_.too_large() + encoder_.failed(); dropped > 0) {
    payloads_too_large_ += dropped;
  }
  if (encoder_.failed() > 0) {
    LOG_EVERY_T(ERROR, 60) << "datadog: the compressor failed on " << encoder_.failed()
                           << " requests this flush; dropped";
  }
}

void DatadogBackend::Perform(Response* response) {
  CURLM* multi = static_cast<CURLM*>(multi_);
  CURL* curl = static_cast<CURL*>(curl_);
  if (absl::Now() >= absl::FromUnixNanos(stop_deadline_ns_.load())) {
    response->stopped = true;  // not started: no half-sent request
    response->code = CURLE_ABORTED_BY_CALLBACK;
    return;
  }
  if (CURLMcode added = curl_multi_add_handle(multi, curl); added != CURLM_OK) {
    response->code = CURLE_FAILED_INIT;
    response->error = curl_multi_strerror(added);
    return;
  }
  while (true) {
    int running = 0;
    CURLMcode status = curl_multi_perform(multi, &running);
    if (status != CURLM_OK) {
      response->code = CURLE_FAILED_INIT;
      response->error = curl_multi_strerror(status);
      break;
    }
    if (running == 0) {
      int left = 0;
      response->code = CURLE_GOT_NOTHING;  // unless curl reports the transfer, below
      while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
        if (message->msg == CURLMSG_DONE && message->easy_handle == curl) {
          response->code = message->data.result;
        }
      }
      break;
    }
    // Wait for the socket or the next of curl's own timers (curl_multi_poll shortens the wait to
    // them, so CURLOPT_TIMEOUT_MS stays in force), at most until the stop deadline; a StopBy
    // meanwhile wakes the wait.
    const absl::Time stop = absl::FromUnixNanos(stop_deadline_ns_.load());
    const absl::Time now = absl::Now();
    if (now >= stop) {
      response->stopped = true;
      response->code = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
    int wait_ms = kMaxWaitMs;
    if (stop - now < absl::Milliseconds(wait_ms)) {
      wait_ms = static_cast<int>(
          absl::ToInt64Milliseconds(absl::Ceil(stop - now, absl::Milliseconds(1))));
    }
    status = curl_multi_poll(multi, nullptr, 0, std::max(wait_ms, 1), nullptr);
    if (status != CURLM_OK) {
      response->code = CURLE_FAILED_INIT;
      response->error = curl_multi_strerror(status);
      break;
    }
  }
  // Removing a transfer that is not done closes its connection; the next request opens another.
  curl_multi_remove_handle(multi, curl);
}

DatadogBackend::Response DatadogBackend::Post(const DatadogRequest& request) {
  CURL* curl = static_cast<CURL*>(curl_);
  Response response;
  std::string url = options_.url + std::string(DatadogPath(request.endpoint));
  curl_slist* headers = nullptr;
  std::string key_header = "DD-API-KEY: " + options_.api_key;
  headers = curl_slist_append(headers, key_header.c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string encoding_header;
  if (!request.encoding.empty()) {
    encoding_header = "Content-Encoding: " + std::string(request.encoding);
    headers = curl_slist_append(headers, encoding_header.c_str());
  }
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  char error[CURL_ERROR_SIZE] = {};
  HeaderSink sink{&response.retry_after, &response.rate_limit_reset};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  Perform(&response);
  if (response.stopped) {
    response.error = "abandoned at the stop deadline (shutdown_timeout)";
  } else if (response.code != CURLE_OK) {
    if (response.error.empty()) {
      response.error = error[0] != '\0' ? error : curl_easy_strerror(response.code);
    }
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  }
  // Nothing below may point at this frame once we return.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, nullptr);
  curl_slist_free_all(headers);
  std::fill(key_header.begin(), key_header.end(), '\0');
  return response;
}

Delivery DatadogBackend::Deliver(const Flush& flush) {
  if (!in_progress_ || flush.snapshot != current_snapshot_ || flush.self_metrics != current_self_) {
    // A new flush (a previous one left unfinished was dropped by the runner).
    Prepare(flush);
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
    const DatadogRequest& request = pending_[next_];
    Response response = Post(request);
    std::string where = "datadog POST " + options_.url + std::string(DatadogPath(request.endpoint));
    std::string which = "request " + std::to_string(next_ + 1) + " of " + std::to_string(total) +
                        " of flush " + std::to_string(sequence);
    if (response.code != CURLE_OK) {
      ++requests_failed_;
      std::string message = Redact(where + ": " + response.error + " (" + which + ")");
      return Delivery::Retry(response.stopped ? absl::DeadlineExceededError(message)
                                              : absl::UnavailableError(message));
    }
    const long status = response.status;
    if (status >= 200 && status < 300) {
      ++requests_sent_;
      ++next_;
      continue;
    }
    std::string message = where + ": HTTP " + std::to_string(status) + " (" + which +
                          "): " + BodyForMessage(response.body);
    message = Redact(std::move(message));
    if (status == 429) {
      ++requests_failed_;
      return Delivery::Retry(absl::ResourceExhaustedError(message),
                             RetryAfter(response.retry_after, response.rate_limit_reset));
    }
    if (status == 408 || status >= 500 || status < 200) {
      ++requests_failed_;
      return Delivery::Retry(absl::UnavailableError(message));
    }
    if (status == 401 || status == 403) {
      // Every request would meet the same refusal: drop the rest of the flush now.
      requests_rejected_ += pending_.size() - next_;
      finish();
      return Delivery::Rejected(
          absl::PermissionDeniedError(message + "; check the API key and site"));
    }
    // 3xx (we do not follow redirects with a body) and other 4xx: this request can never succeed.
    ++requests_rejected_;
    rejections_.push_back(std::move(message));
    ++next_;
  }
  finish();
  if (!rejections_.empty()) {
    std::string message = rejections_.front();
    if (rejections_.size() > 1) {
      message += "; " + std::to_string(rejections_.size()) + " of " + std::to_string(total) +
                 " requests of this flush rejected";
    }
    rejections_.clear();
    return Delivery::Rejected(absl::InvalidArgumentError(message));
  }
  return Delivery::Delivered();
}

}  // namespace tallyd::backends
