#include "backends/http_delivery.h"

#include <curl/curl.h>

#include <algorithm>
#include <ctime>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "aggregator/snapshot.h"

namespace tallyd::backends {
namespace {

constexpr size_t kMaxResponseBody = 4096;  // kept for messages; the rest is read and dropped
constexpr size_t kMaxBodyInMessage = 512;
constexpr absl::Duration kMaxRetryAfter = absl::Hours(1);
constexpr int kMaxWaitMs = 10000;  // one curl_multi_poll; curl's timers and StopBy end it sooner
constexpr char kStopped[] = "abandoned at the stop deadline (shutdown_timeout)";

// A response body fit for one log line.
std::string BodyForMessage(std::string_view body) {
  std::string out(body.substr(0, kMaxBodyInMessage));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (body.size() > kMaxBodyInMessage) out += "...";
  return out;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  std::string& body = *static_cast<std::string*>(user);
  const size_t bytes = size * count;
  if (body.size() < kMaxResponseBody) {
    body.append(data, std::min(bytes, kMaxResponseBody - body.size()));
  }
  return bytes;
}

struct HeaderSink {
  std::string* retry_after;
  std::string* rate_limit_reset;
};

// The value of header `name` when `line` is that header.
bool ReadHeader(absl::string_view line, absl::string_view name, std::string* value) {
  if (line.size() <= name.size() || line[name.size()] != ':' ||
      !absl::EqualsIgnoreCase(line.substr(0, name.size()), name)) {
    return false;
  }
  *value = std::string(absl::StripAsciiWhitespace(line.substr(name.size() + 1)));
  return true;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  const HeaderSink& sink = *static_cast<HeaderSink*>(user);
  const absl::string_view line(data, size * count);
  if (!ReadHeader(line, "retry-after", sink.retry_after)) {
    ReadHeader(line, "x-ratelimit-reset", sink.rate_limit_reset);
  }
  return size * count;
}

// The peer's back-off request, 0 when it gave none we can read. An HTTP-date is a wall-clock
// instant, so it is measured from `wall_now`; the wait it yields is a duration, which the runner
// then spends on the monotonic clock.
absl::Duration RetryAfter(const std::string& retry_after, const std::string& rate_limit_reset,
                          absl::Time wall_now) {
  absl::Duration after = absl::ZeroDuration();
  int64_t seconds = 0;
  if (!retry_after.empty()) {
    if (absl::SimpleAtoi(retry_after, &seconds)) {
      after = absl::Seconds(seconds);
    } else if (time_t when = curl_getdate(retry_after.c_str(), nullptr); when > 0) {
      after = absl::FromTimeT(when) - wall_now;
    }
  } else if (!rate_limit_reset.empty() && absl::SimpleAtoi(rate_limit_reset, &seconds)) {
    after = absl::Seconds(seconds);  // Datadog's X-RateLimit-Reset: seconds until the reset
  }
  return std::clamp(after, absl::ZeroDuration(), kMaxRetryAfter);
}

void Wipe(std::string& secret) { std::fill(secret.begin(), secret.end(), '\0'); }

}  // namespace

struct HttpDelivery::Response {
  CURLcode code = CURLE_OK;
  bool stopped = false;  // abandoned at the stop deadline (code is then not CURLE_OK either)
  std::string error;     // why, when code != CURLE_OK
  long status = 0;
  std::string body;
  std::string retry_after;
  std::string rate_limit_reset;
};

absl::StatusOr<std::unique_ptr<HttpDelivery>> HttpDelivery::Create(HttpDeliveryOptions options) {
  static std::once_flag curl_once;
  static CURLcode curl_init = CURLE_OK;
  std::call_once(curl_once, [] { curl_init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (curl_init != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat(options.name, ": libcurl: ", curl_easy_strerror(curl_init)));
  }
  std::unique_ptr<HttpDelivery> delivery(new HttpDelivery(std::move(options)));
  if (absl::Status status = delivery->Init(); !status.ok()) return status;
  return delivery;
}

HttpDelivery::HttpDelivery(HttpDeliveryOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : DefaultClock()) {}

HttpDelivery::~HttpDelivery() {
  // The easy handle is never left in the multi handle (Perform removes it): any order will do.
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
  for (auto& [encoding, list] : header_lists_) curl_slist_free_all(static_cast<curl_slist*>(list));
  for (std::string& header : options_.headers) Wipe(header);
  for (std::string& secret : options_.secrets) Wipe(secret);
}

absl::Status HttpDelivery::Init() {
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError(options_.name + ": curl_multi_init failed");
  multi_ = multi;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError(options_.name + ": curl_easy_init failed");
  curl_ = curl;
  const long timeout_ms =
      static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // we run on a backend's thread
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

void HttpDelivery::StopBy(absl::Time deadline) {
  stop_deadline_ns_.store(absl::ToUnixNanos(deadline));
  // A wait in progress returns now and re-reads the deadline; with none in progress, the next
  // wait returns at once, which is harmless.
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

HttpDeliveryStats HttpDelivery::stats() const {
  return {.sent = sent_.load(), .failed = failed_.load(), .rejected = rejected_.load()};
}

std::string HttpDelivery::Redact(std::string text) const {
  for (const std::string& secret : options_.secrets) {
    if (secret.empty()) continue;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "<redacted>");
    }
  }
  return text;
}

void* HttpDelivery::HeadersFor(std::string_view encoding) {
  for (const auto& [known, list] : header_lists_) {
    if (known == encoding) return list;
  }
  curl_slist* list = nullptr;
  for (const std::string& header : options_.headers) list = curl_slist_append(list, header.c_str());
  if (!encoding.empty()) {
    list = curl_slist_append(list, absl::StrCat("Content-Encoding: ",
                                                absl::string_view(encoding.data(), encoding.size()))
                                       .c_str());
  }
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  header_lists_.emplace_back(std::string(encoding), list);
  return list;
}

void HttpDelivery::Perform(Response* response) {
  CURLM* multi = static_cast<CURLM*>(multi_);
  CURL* curl = static_cast<CURL*>(curl_);
  if (clock_.MonotonicNow() >= absl::FromUnixNanos(stop_deadline_ns_.load())) {
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
    const absl::Time now = clock_.MonotonicNow();
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

HttpDelivery::Response HttpDelivery::Post(const HttpPost& post) {
  CURL* curl = static_cast<CURL*>(curl_);
  Response response;
  char error[CURL_ERROR_SIZE] = {};
  HeaderSink sink{&response.retry_after, &response.rate_limit_reset};
  curl_easy_setopt(curl, CURLOPT_URL, post.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, HeadersFor(post.content_encoding));
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post.body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  Perform(&response);
  if (response.stopped) {
    response.error = kStopped;
  } else if (response.code != CURLE_OK) {
    if (response.error.empty()) {
      response.error = error[0] != '\0' ? error : curl_easy_strerror(response.code);
    }
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  }
  // Nothing below may point at this frame or the caller's body once we return.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, nullptr);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
  return response;
}

Delivery HttpDelivery::Deliver(const Flush& flush, absl::FunctionRef<size_t()> prepare,
                               absl::FunctionRef<HttpPost(size_t)> request,
                               absl::FunctionRef<void(size_t)> sent) {
  if (!in_progress_ || flush.snapshot != current_snapshot_ || flush.self_metrics != current_self_) {
    // A new flush (a previous one left unfinished was dropped by the runner).
    next_ = 0;
    rejections_.clear();
    total_ = prepare();
    current_snapshot_ = flush.snapshot;
    current_self_ = flush.self_metrics;
    in_progress_ = true;
  }
  const uint64_t sequence = flush.snapshot != nullptr ? flush.snapshot->sequence : 0;
  const size_t total = total_;
  auto finish = [this] {
    in_progress_ = false;
    current_snapshot_.reset();
    current_self_.reset();
    total_ = 0;
    next_ = 0;
  };
  while (next_ < total) {
    const HttpPost post = request(next_);
    Response response = Post(post);
    const std::string where = absl::StrCat(options_.name, " POST ", post.url);
    std::string which = absl::StrCat("request ", next_ + 1, " of ", total, " of flush ", sequence);
    if (!post.note.empty()) absl::StrAppend(&which, ", ", post.note);
    if (response.code != CURLE_OK) {
      ++failed_;
      std::string message = Redact(absl::StrCat(where, ": ", response.error, " (", which, ")"));
      return Delivery::Retry(response.stopped ? absl::DeadlineExceededError(message)
                                              : absl::UnavailableError(message));
    }
    const long status = response.status;
    if (status >= 200 && status < 300) {
      ++sent_;
      sent(next_);
      ++next_;
      continue;
    }
    std::string message = Redact(
        absl::StrCat(where, ": HTTP ", status, " (", which, "): ", BodyForMessage(response.body)));
    if (status == 429) {
      ++failed_;
      return Delivery::Retry(
          absl::ResourceExhaustedError(message),
          RetryAfter(response.retry_after,
                     options_.rate_limit_reset ? response.rate_limit_reset : std::string(),
                     clock_.WallNow()));
    }
    if (status >= 500 || status < 200 || (status == 408 && options_.retry_request_timeout)) {
      ++failed_;
      const bool honoured = options_.retry_after_on_server_error && status != 408;
      return Delivery::Retry(
          absl::UnavailableError(message),
          honoured ? RetryAfter(response.retry_after, "", clock_.WallNow()) : absl::ZeroDuration());
    }
    if (!options_.auth_hint.empty() && (status == 401 || status == 403)) {
      // Every request would meet the same refusal: drop the rest of the flush now.
      rejected_ += total - next_;
      finish();
      rejections_.clear();
      return Delivery::Rejected(
          absl::PermissionDeniedError(absl::StrCat(message, "; ", options_.auth_hint)));
    }
    // 3xx (we do not follow redirects with a body) and other 4xx: this request can never
    // succeed (a bad payload, out of order samples, no such tenant): drop it, send the rest.
    ++rejected_;
    rejections_.push_back(std::move(message));
    ++next_;
  }
  finish();
  if (rejections_.empty()) return Delivery::Delivered();
  std::string message = std::move(rejections_.front());
  if (rejections_.size() > 1) {
    absl::StrAppend(&message, "; ", rejections_.size(), " of ", total,
                    " requests of this flush rejected");
  }
  rejections_.clear();
  return Delivery::Rejected(absl::InvalidArgumentError(message));
}

}  // namespace tallyd::backends
