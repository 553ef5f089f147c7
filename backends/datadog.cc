#include "backends/datadog.h"

#include <glog/logging.h>
#include <zlib.h>
#include <zstd.h>

#include <string>
#include <utility>

#include "absl/status/status.h"

namespace tallyd::backends {

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
  HttpDeliveryOptions delivery;
  delivery.name = "datadog";
  delivery.timeout = options.timeout;
  delivery.headers = {"DD-API-KEY: " + options.api_key, "Content-Type: application/json"};
  delivery.secrets = {options.api_key};
  delivery.retry_request_timeout = true;
  delivery.rate_limit_reset = true;
  delivery.auth_hint = "check the API key and site";
  absl::StatusOr<std::unique_ptr<HttpDelivery>> http = HttpDelivery::Create(std::move(delivery));
  if (!http.ok()) return http.status();
  return std::unique_ptr<DatadogBackend>(new DatadogBackend(std::move(options), std::move(*http)));
}

DatadogBackend::DatadogBackend(DatadogOptions options, std::unique_ptr<HttpDelivery> http)
    : options_(std::move(options)),
      http_(std::move(http)),
      encoder_(options_.compression, options_.format) {}

void DatadogBackend::StopBy(absl::Time deadline) { http_->StopBy(deadline); }

DatadogStats DatadogBackend::stats() const {
  const HttpDeliveryStats requests = http_->stats();
  DatadogStats s;
  s.requests_sent = requests.sent;
  s.requests_failed = requests.failed;
  s.requests_rejected = requests.rejected;
  s.payloads_too_large = payloads_too_large_.load();
  s.distributions_scaled = distributions_scaled_.load();
  return s;
}

void DatadogBackend::Prepare(const Flush& flush) {
  pending_.clear();
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

Delivery DatadogBackend::Deliver(const Flush& flush) {
  return http_->Deliver(
      flush,
      [&] {
        Prepare(flush);
        return pending_.size();
      },
      [this](size_t i) {
        const DatadogRequest& request = pending_[i];
        return HttpPost{.url = options_.url + std::string(DatadogPath(request.endpoint)),
                        .content_encoding = request.encoding,
                        .body = request.body,
                        .note = {}};
      },
      [](size_t) {});
}

}  // namespace tallyd::backends
