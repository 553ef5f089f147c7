// backends/datadog_encoder.h: one flush's Datadog requests, compressed while they are formatted
// (SPEC 4.3), for DatadogBackend.
//
// FormatDatadogInto writes each item straight into the chunk buffer of its endpoint's encoder;
// the encoder compresses the chunk into the open request's body whenever it holds kChunk bytes
// (deflate: a zlib stream per request; zstd: a frame per request; none: the items are written
// into the body itself). So a point is written once and compressed once, never copied into a
// string of its own or a whole uncompressed body, and every buffer (chunk, bodies, compressor
// state) is kept for the next flush.
//
// Limits (DatadogLimits): a request is closed before an item that would take it past max_items,
// max_uncompressed (exact: the JSON bytes are counted as written) or max_compressed. The
// compressed size of the open request is known only up to the input the compressor still holds,
// so the encoder checks a bound: the output so far plus the compressBound of every byte fed since
// the output was last exact, the item and the envelope's close. When the bound says no, it
// flushes the compressor (Z_SYNC_FLUSH, ZSTD_e_flush) to know the output exactly and checks
// again with only the item uncertain, as the Datadog Agent's stream compressor does. A request's
// first item is always taken; a request that is one item compressing above max_compressed on its
// own is dropped and counted (too_large).
#ifndef TALLYD_BACKENDS_DATADOG_ENCODER_H_
#define TALLYD_BACKENDS_DATADOG_ENCODER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.h"
#include "backends/datadog_format.h"

namespace tallyd::backends {

enum class DatadogCompression { kDeflate, kZstd, kNone };

// The compression `endpoint` gets for the configured one (zstd only where Datadog documents it:
// sources in datadog_encoder.cc), and its Content-Encoding ("" for none).
DatadogCompression CompressionFor(DatadogEndpoint endpoint, DatadogCompression configured);
std::string_view ContentEncoding(DatadogCompression compression);

// One request as sent. The body views the encoder's buffers: valid until its next Reset().
struct DatadogRequest {
  DatadogEndpoint endpoint = DatadogEndpoint::kSeries;
  std::string_view encoding;  // Content-Encoding, "" when sent as is
  std::string_view body;
  size_t items = 0;
};

class DatadogRequestEncoder {
 public:
  // Uncompressed JSON gathered before it is handed to the compressor.
  static constexpr size_t kChunk = 32 * 1024;
  // Body capacity kept for the next flush, in all: a 1M-series flush with `compression: none`
  // fills ~200 MB of bodies, which would otherwise stay allocated between flushes for good.
  // Bodies past this are freed at Reset(); a steady flush of normal size reuses all of its own.
  static constexpr size_t kRetainedBytes = 16 * 1024 * 1024;

  DatadogRequestEncoder(DatadogEndpoint endpoint, DatadogCompression compression,
                        DatadogLimits limits);
  ~DatadogRequestEncoder();
  DatadogRequestEncoder(const DatadogRequestEncoder&) = delete;
  DatadogRequestEncoder& operator=(const DatadogRequestEncoder&) = delete;

  // Forgets the requests of the previous flush (their views go stale), keeping the buffers up to
  // kRetainedBytes of body capacity.
  void Reset();
  // Body capacity held now (for tests and the bound above).
  size_t retained_bytes() const;
  // The buffer to append one item to (DatadogItemSink), then EndItem.
  std::string& BeginItem();
  void EndItem(bool keep);
  // Closes the open request, if any.
  void Finish();
  // This flush's requests, in order, appended to `out`.
  void AppendRequests(std::vector<DatadogRequest>* out) const;
  // Requests dropped this flush: one item alone above max_compressed, or a compressor failure.
  uint64_t too_large() const { return too_large_; }
  uint64_t failed() const { return failed_; }

 private:
  enum class Mode { kContinue, kFlush, kEnd };
  struct Body {
    std::string buffer;  // compressed: raw storage, `size` bytes of it used; none: the JSON
    size_t size = 0;
    size_t items = 0;
  };

  bool compressed() const { return compression_ != DatadogCompression::kNone; }
  std::string& ItemBuffer() { return compressed() ? chunk_ : bodies_[current_].buffer; }
  void OpenRequest();
  void CloseRequest();
  bool Fits(size_t item);
  // Whether the open request, with `pending` more bytes to compress, is sure to fit.
  bool BoundFits(size_t pending) const;
  void Commit(size_t item);
  // Compresses `n` bytes of `data` into the open request's body. False on a compressor error
  // (the request is then marked failed and dropped at its close).
  bool Feed(const char* data, size_t n, Mode mode);
  bool StartCompressor();

  const DatadogEndpoint endpoint_;
  const DatadogCompression compression_;
  DatadogLimits limits_;
  const std::string_view open_;  // the envelope around the items
  const std::string_view close_;
  std::vector<Body> bodies_;  // [0, used_) this flush's; the rest kept for their capacity
  size_t used_ = 0;
  size_t current_ = 0;  // the open request's body, when open_request_
  bool open_request_ = false;
  bool request_failed_ = false;
  std::string chunk_;        // compressed: JSON not yet handed to the compressor
  std::string held_;         // an item moved to the next request
  size_t item_start_ = 0;    // where the item being written begins in ItemBuffer() (its comma)
  size_t uncompressed_ = 0;  // JSON bytes of the open request: envelope's open and items taken
  size_t fed_inexact_ = 0;   // bytes fed since the output was last exact (a flush point)
  struct Compressor;         // zlib or zstd state, created on first use
  std::unique_ptr<Compressor> compressor_;
  uint64_t too_large_ = 0;
  uint64_t failed_ = 0;
};

// The encoders of every endpoint of one backend, as the sink FormatDatadogInto writes to.
class DatadogRequestSet : public DatadogItemSink {
 public:
  DatadogRequestSet(DatadogCompression compression, const DatadogFormatOptions& format);

  // Formats and encodes one flush. The requests, series first, then distribution points,
  // service checks and events, view this set's buffers until the next Encode.
  const std::vector<DatadogRequest>& Encode(const Flush& flush, const DatadogFormatOptions& format,
                                            SelfMetricTotals* totals, DatadogFormatStats* stats);
  // Of the last Encode: see DatadogRequestEncoder.
  uint64_t too_large() const;
  uint64_t failed() const;

  std::string& BeginItem(DatadogEndpoint endpoint) override;
  void EndItem(DatadogEndpoint endpoint, bool keep) override;

 private:
  DatadogRequestEncoder& Of(DatadogEndpoint endpoint) {
    return *encoders_[static_cast<int>(endpoint)];
  }

  std::unique_ptr<DatadogRequestEncoder> encoders_[4];  // by DatadogEndpoint
  std::vector<DatadogRequest> requests_;
};

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_DATADOG_ENCODER_H_
