// backends/remote_write_format.h: samples -> remote write 1.0 request bodies (SPEC 4.5).
//
// RemoteWriteEncoder takes one flush's samples, one at a time, each a Prometheus series name, its
// labels and a value, and cuts them into `prometheus.WriteRequest`s of at most
// `max_samples_per_send` samples, serialized and snappy block-compressed as the protocol wants.
// It knows nothing of StatsD: the conversion (names, summaries, buckets) is PrometheusState's,
// shared with the scrape endpoint (backends/remote_write.cc feeds it). Transport is elsewhere.
#ifndef TALLYD_BACKENDS_REMOTE_WRITE_FORMAT_H_
#define TALLYD_BACKENDS_REMOTE_WRITE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prometheus {
class WriteRequest;
}

namespace tallyd::backends {

// (name, value) pairs; for external labels sorted by name, names unique.
using RemoteWriteLabels = std::vector<std::pair<std::string, std::string>>;

// One request as sent: the snappy-compressed WriteRequest.
struct RemoteWriteRequest {
  std::string body;
  size_t samples = 0;
  size_t uncompressed_bytes = 0;
};

// "0.005", "1", "2.5", "+Inf": the shortest text that reads back as `value` (the `le` and
// `quantile` label values), as Prometheus' own clients write them.
std::string FormatPrometheusFloat(double value);

class RemoteWriteEncoder {
 public:
  // `external_labels` (sorted, unique, may be empty) are added to each series lacking the label
  // (Prometheus' rule: a series' own label wins); one with an empty value is no label.
  // Every sample gets `timestamp_ms`.
  RemoteWriteEncoder(const RemoteWriteLabels& external_labels, size_t max_samples_per_send,
                     int64_t timestamp_ms);
  ~RemoteWriteEncoder();
  RemoteWriteEncoder(const RemoteWriteEncoder&) = delete;
  RemoteWriteEncoder& operator=(const RemoteWriteEncoder&) = delete;

  // One sample of series `name`. `labels`: the series' labels, names unique and none `__name__`;
  // `extra`, when its name is not empty, one more label of the conversion's own (`quantile`,
  // `le`) whose name is not among `labels`. The encoder sorts the whole set by name (`__name__`
  // sorts first but for upper-case label names, which precede it in byte order as the
  // specification's sort requires) and drops labels with empty values, as Prometheus reads them.
  template <typename LabelRange>
  void Add(std::string_view name, const LabelRange& labels, double value,
           std::pair<std::string_view, std::string_view> extra = {}) {
    scratch_.clear();
    for (const auto& label : labels) scratch_.emplace_back(NameOf(label), ValueOf(label));
    AddSample(name, extra, value);
  }

  // The requests so far, the last one possibly shorter; the encoder is empty afterwards.
  std::vector<RemoteWriteRequest> Finish();

  size_t samples() const { return samples_; }

 private:
  template <typename L>
  static std::string_view NameOf(const L& label) {
    if constexpr (requires { label.name; }) {
      return label.name;
    } else {
      return label.first;
    }
  }
  template <typename L>
  static std::string_view ValueOf(const L& label) {
    if constexpr (requires { label.value; }) {
      return label.value;
    } else {
      return label.second;
    }
  }
  void AddSample(std::string_view name, std::pair<std::string_view, std::string_view> extra,
                 double value);
  void Seal();  // the current WriteRequest becomes a request

  // A copy: a caller passing a temporary (`{}`) would otherwise leave it dangling (ASan saw it).
  const RemoteWriteLabels external_labels_;
  const size_t max_samples_;
  const int64_t timestamp_ms_;
  std::unique_ptr<prometheus::WriteRequest> current_;
  size_t in_current_ = 0;
  size_t samples_ = 0;
  std::vector<std::pair<std::string_view, std::string_view>> scratch_;  // one series' labels
  std::string serialized_;                                              // reused per request
  std::vector<RemoteWriteRequest> requests_;
};

// The WriteRequest a body holds (snappy, then protobuf), for tests and the bench: the reader a
// receiver runs. False when the body does not decode.
bool DecodeRemoteWriteBody(std::string_view body, prometheus::WriteRequest* request);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_REMOTE_WRITE_FORMAT_H_
