#include "backends/remote_write_format.h"

#include <snappy.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "backends/proto/remote_write.pb.h"

namespace tallyd::backends {

std::string FormatPrometheusFloat(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, end);
}

RemoteWriteEncoder::RemoteWriteEncoder(const RemoteWriteLabels& external_labels,
                                       size_t max_samples_per_send, int64_t timestamp_ms)
    : external_labels_(external_labels),
      max_samples_(std::max<size_t>(1, max_samples_per_send)),
      timestamp_ms_(timestamp_ms),
      current_(std::make_unique<prometheus::WriteRequest>()) {}

RemoteWriteEncoder::~RemoteWriteEncoder() = default;

void RemoteWriteEncoder::AddSample(std::string_view name,
                                   std::pair<std::string_view, std::string_view> extra,
                                   double value) {
  // scratch_ holds the series' own labels; the rest joins them here.
  const size_t own = scratch_.size();
  if (!extra.first.empty()) scratch_.push_back(extra);
  for (const auto& [label, label_value] : external_labels_) {
    bool present = false;
    for (size_t i = 0; i < own && !present; ++i) present = scratch_[i].first == label;
    if (!present && label != extra.first) scratch_.emplace_back(label, label_value);
  }
  scratch_.emplace_back("__name__", name);
  std::sort(scratch_.begin(), scratch_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  prometheus::TimeSeries* series = current_->add_timeseries();
  for (const auto& [label, label_value] : scratch_) {
    if (label_value.empty()) continue;
    prometheus::Label* out = series->add_labels();
    out->set_name(label.data(), label.size());
    out->set_value(label_value.data(), label_value.size());
  }
  prometheus::Sample* sample = series->add_samples();
  sample->set_value(value);
  sample->set_timestamp(timestamp_ms_);
  ++samples_;
  if (++in_current_ == max_samples_) Seal();
}

void RemoteWriteEncoder::Seal() {
  if (in_current_ == 0) return;
  current_->SerializeToString(&serialized_);
  RemoteWriteRequest request;
  request.samples = in_current_;
  request.uncompressed_bytes = serialized_.size();
  snappy::Compress(serialized_.data(), serialized_.size(), &request.body);
  requests_.push_back(std::move(request));
  current_->Clear();  // keeps its allocations for the next request
  in_current_ = 0;
}

std::vector<RemoteWriteRequest> RemoteWriteEncoder::Finish() {
  Seal();
  samples_ = 0;
  std::vector<RemoteWriteRequest> out = std::move(requests_);
  requests_.clear();
  return out;
}

bool DecodeRemoteWriteBody(std::string_view body, prometheus::WriteRequest* request) {
  std::string raw;
  if (!snappy::Uncompress(body.data(), body.size(), &raw)) return false;
  return request->ParseFromString(raw);
}

}  // namespace tallyd::backends
