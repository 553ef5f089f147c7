#include "backends/datadog_encoder.h"

#include <glog/logging.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>

namespace tallyd::backends {
namespace {

// Covers what a flush point or the end adds beyond compressBound (the sync marker, the zlib
// trailer, zstd's last block header and checksum) with room to spare.
constexpr size_t kMargin = 64;

std::string_view EnvelopeOpen(DatadogEndpoint endpoint) {
  switch (endpoint) {
    case DatadogEndpoint::kSeries:
    case DatadogEndpoint::kDistributionPoints:
      return "{\"series\":[";
    case DatadogEndpoint::kCheckRun:
      return "[";
    case DatadogEndpoint::kEvents:
      return "";  // the event itself
  }
  return "";
}

std::string_view EnvelopeClose(DatadogEndpoint endpoint) {
  switch (endpoint) {
    case DatadogEndpoint::kSeries:
    case DatadogEndpoint::kDistributionPoints:
      return "]}";
    case DatadogEndpoint::kCheckRun:
      return "]";
    case DatadogEndpoint::kEvents:
      return "";
  }
  return "";
}

}  // namespace

// The compression each endpoint gets for the configured one. What Datadog's API reference
// documents as Content-Encoding values (the reference pages, and the OpenAPI enums the official
// clients are generated from):
// - POST /api/v2/series: `deflate`, `zstd1`, `gzip`
//   (https://docs.datadoghq.com/api/latest/metrics/#submit-metrics, enum MetricContentEncoding of
//   the v2 spec, as in github.com/DataDog/datadog-api-client-go api/datadogV2).
// - POST /api/v1/distribution_points: `deflate` only
//   (https://docs.datadoghq.com/api/latest/metrics/#submit-distribution-points, enum
//   DistributionPointsContentEncoding of the v1 spec).
// - POST /api/v1/check_run (https://docs.datadoghq.com/api/latest/service-checks/) and POST
//   /api/v1/events (https://docs.datadoghq.com/api/latest/events/#post-an-event): no
//   Content-Encoding documented. The Datadog Agent posts check_run bodies compressed like the rest
//   of its payloads (pkg/serializer: jsonExtraHeadersWithCompression; zlib in older Agents, zstd
//   by default in current ones: DefaultCompressorKind) and sends events to /intake/, not here.
//   These two get deflate, which SPEC 4.3 takes as accepted by every endpoint, and never zstd.
// The Agent spells zstd `zstd` (ZstdEncoding in its compression package); we send the spelling
// the API reference documents for v2 series, `zstd1`. Its stream compressor, like ours, writes
// frames without a content size (optional in the zstd format).
DatadogCompression CompressionFor(DatadogEndpoint endpoint, DatadogCompression configured) {
  if (configured == DatadogCompression::kZstd && endpoint != DatadogEndpoint::kSeries) {
    return DatadogCompression::kDeflate;
  }
  return configured;
}

std::string_view ContentEncoding(DatadogCompression compression) {
  switch (compression) {
    case DatadogCompression::kDeflate:
      return "deflate";
    case DatadogCompression::kZstd:
      return "zstd1";
    case DatadogCompression::kNone:
      return "";
  }
  return "";
}

struct DatadogRequestEncoder::Compressor {
  z_stream zlib{};
  bool zlib_ready = false;
  ZSTD_CCtx* zstd = nullptr;
  ~Compressor() {
    if (zlib_ready) deflateEnd(&zlib);
    if (zstd != nullptr) ZSTD_freeCCtx(zstd);
  }
};

DatadogRequestEncoder::DatadogRequestEncoder(DatadogEndpoint endpoint,
                                             DatadogCompression compression, DatadogLimits limits)
    : endpoint_(endpoint),
      compression_(compression),
      limits_(limits),
      open_(EnvelopeOpen(endpoint)),
      close_(EnvelopeClose(endpoint)) {
  // The v1 events endpoint takes one event per request.
  if (endpoint == DatadogEndpoint::kEvents) limits_.max_items = 1;
}

DatadogRequestEncoder::~DatadogRequestEncoder() = default;

void DatadogRequestEncoder::Reset() {
  size_t kept = 0;
  for (Body& body : bodies_) {
    kept += body.buffer.capacity();
    if (kept > kRetainedBytes) {
      kept -= body.buffer.capacity();
      std::string().swap(body.buffer);
    }
  }
  used_ = 0;
  open_request_ = false;
  chunk_.clear();
  too_large_ = failed_ = 0;
}

size_t DatadogRequestEncoder::retained_bytes() const {
  size_t bytes = 0;
  for (const Body& body : bodies_) bytes += body.buffer.capacity();
  return bytes;
}

bool DatadogRequestEncoder::StartCompressor() {
  if (compressor_ == nullptr) compressor_ = std::make_unique<Compressor>();
  Compressor& c = *compressor_;
  if (compression_ == DatadogCompression::kDeflate) {
    if (c.zlib_ready) return deflateReset(&c.zlib) == Z_OK;
    // zlib stream (RFC 1950) at the default level, as compress2 made before.
    c.zlib_ready = deflateInit(&c.zlib, Z_DEFAULT_COMPRESSION) == Z_OK;
    return c.zlib_ready;
  }
  if (c.zstd == nullptr) {
    c.zstd = ZSTD_createCCtx();
    if (c.zstd == nullptr) return false;
    return !ZSTD_isError(ZSTD_CCtx_setParameter(c.zstd, ZSTD_c_compressionLevel, 1));
  }
  return !ZSTD_isError(ZSTD_CCtx_reset(c.zstd, ZSTD_reset_session_only));
}

void DatadogRequestEncoder::OpenRequest() {
  if (used_ == bodies_.size()) bodies_.emplace_back();
  current_ = used_++;
  Body& body = bodies_[current_];
  body.size = 0;
  body.items = 0;
  open_request_ = true;
  request_failed_ = false;
  uncompressed_ = open_.size();
  if (!compressed()) {
    body.buffer.clear();
    body.buffer.append(open_);
    return;
  }
  chunk_.clear();
  fed_inexact_ = 0;
  if (!StartCompressor()) {
    request_failed_ = true;
    return;
  }
  Feed(open_.data(), open_.size(), Mode::kContinue);
  fed_inexact_ = open_.size();
}

bool DatadogRequestEncoder::Feed(const char* data, size_t n, Mode mode) {
  if (request_failed_) return false;
  Body& body = bodies_[current_];
  // Room for the worst case of this input in one go; grown again only if a flush needs more.
  auto grow = [&body](size_t want) {
    if (body.buffer.size() - body.size < want) {
      body.buffer.resize(std::max(body.size + want, body.buffer.size() * 2));
    }
  };
  if (compression_ == DatadogCompression::kDeflate) {
    z_stream& z = compressor_->zlib;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = static_cast<uInt>(n);
    const int flush = mode == Mode::kContinue ? Z_NO_FLUSH
                      : mode == Mode::kFlush  ? Z_SYNC_FLUSH
                                              : Z_FINISH;
    grow(compressBound(static_cast<uLong>(n)) + kMargin);
    while (true) {
      z.next_out = reinterpret_cast<Bytef*>(body.buffer.data() + body.size);
      z.avail_out = static_cast<uInt>(body.buffer.size() - body.size);
      const int rc = deflate(&z, flush);
      body.size = body.buffer.size() - z.avail_out;
      if (rc == Z_STREAM_ERROR) break;
      if (flush == Z_FINISH ? rc == Z_STREAM_END : z.avail_in == 0 && z.avail_out != 0) {
        return true;
      }
      grow(kMargin + body.buffer.size() / 2);  // out of room: more, and again
    }
  } else {
    ZSTD_inBuffer in{data, n, 0};
    const ZSTD_EndDirective directive = mode == Mode::kContinue ? ZSTD_e_continue
                                        : mode == Mode::kFlush  ? ZSTD_e_flush
                                                                : ZSTD_e_end;
    grow(ZSTD_compressBound(n) + kMargin);
    while (true) {
      ZSTD_outBuffer out{body.buffer.data(), body.buffer.size(), body.size};
      const size_t left = ZSTD_compressStream2(compressor_->zstd, &out, &in, directive);
      body.size = out.pos;
      if (ZSTD_isError(left)) break;
      if (directive == ZSTD_e_continue ? in.pos == in.size : left == 0) return true;
      grow(kMargin + std::max(left, body.buffer.size() / 2));
    }
  }
  request_failed_ = true;
  return false;
}

bool DatadogRequestEncoder::BoundFits(size_t pending) const {
  const size_t bound = compression_ == DatadogCompression::kDeflate
                           ? compressBound(static_cast<uLong>(pending))
                           : ZSTD_compressBound(pending);
  return bodies_[current_].size + bound + kMargin <= limits_.max_compressed;
}

std::string& DatadogRequestEncoder::BeginItem() {
  if (!open_request_) OpenRequest();
  std::string& buffer = ItemBuffer();
  item_start_ = buffer.size();
  if (bodies_[current_].items > 0) buffer.push_back(',');
  return buffer;
}

bool DatadogRequestEncoder::Fits(size_t item) {
  const Body& body = bodies_[current_];
  if (limits_.max_items != 0 && body.items >= limits_.max_items) return false;
  const size_t json = uncompressed_ + item + close_.size();
  if (json > limits_.max_uncompressed) return false;
  if (!compressed()) return json <= limits_.max_compressed;
  if (BoundFits(fed_inexact_ + chunk_.size() + close_.size())) return true;
  // Make the output exact for everything before the item: then only the item is uncertain.
  Feed(chunk_.data(), item_start_, Mode::kFlush);
  chunk_.erase(0, item_start_);
  item_start_ = 0;
  fed_inexact_ = 0;
  return BoundFits(chunk_.size() + close_.size());
}

void DatadogRequestEncoder::Commit(size_t item) {
  uncompressed_ += item;
  ++bodies_[current_].items;
  if (compressed() && chunk_.size() >= kChunk) {
    Feed(chunk_.data(), chunk_.size(), Mode::kContinue);
    fed_inexact_ += chunk_.size();
    chunk_.clear();
  }
}

void DatadogRequestEncoder::EndItem(bool keep) {
  std::string& buffer = ItemBuffer();
  if (!keep) {
    buffer.resize(item_start_);
    return;
  }
  const size_t item = buffer.size() - item_start_;
  if (bodies_[current_].items == 0 || Fits(item)) {
    Commit(item);
    return;
  }
  // The item opens the next request (without its comma); the open one closes with what it took
  // before it. One item's bytes copied, once per request.
  held_.assign(buffer, item_start_ + 1);
  buffer.resize(item_start_);
  CloseRequest();
  OpenRequest();
  ItemBuffer().append(held_);
  Commit(held_.size());
}

void DatadogRequestEncoder::CloseRequest() {
  Body& body = bodies_[current_];
  open_request_ = false;
  if (compressed()) {
    Feed(chunk_.data(), chunk_.size(), Mode::kContinue);
    chunk_.clear();
    Feed(close_.data(), close_.size(), Mode::kEnd);
  } else {
    body.buffer.append(close_);
    body.size = body.buffer.size();
  }
  const bool empty = body.items == 0;
  const bool too_large = body.size > limits_.max_compressed;
  if (!empty && !request_failed_ && !too_large) return;
  if (request_failed_ && !empty) {
    ++failed_;
  } else if (too_large && !empty) {
    ++too_large_;
    LOG(WARNING) << "datadog: one " << DatadogPath(endpoint_) << " item is " << body.size
                 << " bytes compressed, above the " << limits_.max_compressed
                 << "-byte limit; dropped";
  }
  // Drop it: a body always closes before the next one opens, so it is the last in use.
  if (current_ + 1 == used_) --used_;
}

void DatadogRequestEncoder::Finish() {
  if (open_request_) CloseRequest();
}

void DatadogRequestEncoder::AppendRequests(std::vector<DatadogRequest>* out) const {
  for (size_t i = 0; i < used_; ++i) {
    out->push_back({endpoint_, ContentEncoding(compression_),
                    std::string_view(bodies_[i].buffer.data(), bodies_[i].size), bodies_[i].items});
  }
}

DatadogRequestSet::DatadogRequestSet(DatadogCompression compression,
                                     const DatadogFormatOptions& format) {
  const DatadogLimits limits[4] = {format.series_limits, format.distribution_limits,
                                   format.check_run_limits,
                                   DatadogLimitsFor(DatadogEndpoint::kEvents)};
  for (int e = 0; e < 4; ++e) {
    const auto endpoint = static_cast<DatadogEndpoint>(e);
    encoders_[e] = std::make_unique<DatadogRequestEncoder>(
        endpoint, CompressionFor(endpoint, compression), limits[e]);
  }
}

const std::vector<DatadogRequest>& DatadogRequestSet::Encode(const Flush& flush,
                                                             const DatadogFormatOptions& format,
                                                             SelfMetricTotals* totals,
                                                             DatadogFormatStats* stats) {
  requests_.clear();
  for (auto& encoder : encoders_) encoder->Reset();
  FormatDatadogInto(flush, format, totals, this, stats);
  for (auto& encoder : encoders_) {
    encoder->Finish();
    encoder->AppendRequests(&requests_);
  }
  return requests_;
}

uint64_t DatadogRequestSet::too_large() const {
  uint64_t n = 0;
  for (const auto& encoder : encoders_) n += encoder->too_large();
  return n;
}

uint64_t DatadogRequestSet::failed() const {
  uint64_t n = 0;
  for (const auto& encoder : encoders_) n += encoder->failed();
  return n;
}

std::string& DatadogRequestSet::BeginItem(DatadogEndpoint endpoint) {
  return Of(endpoint).BeginItem();
}

void DatadogRequestSet::EndItem(DatadogEndpoint endpoint, bool keep) { Of(endpoint).EndItem(keep); }

}  // namespace tallyd::backends
