// tests/backends/remote_write_reader.h: reads a remote write body back as a receiver does
// (snappy, then the generated prometheus.WriteRequest classes), for the remote write tests.
#ifndef TALLYD_TESTS_BACKENDS_REMOTE_WRITE_READER_H_
#define TALLYD_TESTS_BACKENDS_REMOTE_WRITE_READER_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "backends/proto/remote_write.pb.h"
#include "backends/remote_write_format.h"

namespace tallyd::testing {

// One decoded series: its labels in the order sent, and its one sample.
struct DecodedSeries {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  int64_t timestamp = 0;

  std::string Label(const std::string& name) const {
    for (const auto& [n, v] : labels) {
      if (n == name) return v;
    }
    return "";
  }
};

// Every series of a body; a body that does not decode, or a series without exactly one sample
// (tallyd sends one per series per request), fails the test.
inline std::vector<DecodedSeries> DecodeAll(const std::string& body) {
  prometheus::WriteRequest request;
  EXPECT_TRUE(backends::DecodeRemoteWriteBody(body, &request)) << "not a snappy WriteRequest";
  std::vector<DecodedSeries> out;
  for (const prometheus::TimeSeries& series : request.timeseries()) {
    DecodedSeries decoded;
    for (const prometheus::Label& label : series.labels()) {
      decoded.labels.emplace_back(label.name(), label.value());
    }
    EXPECT_EQ(series.samples_size(), 1);
    if (series.samples_size() > 0) {
      decoded.value = series.samples(0).value();
      decoded.timestamp = series.samples(0).timestamp();
    }
    out.push_back(std::move(decoded));
  }
  return out;
}

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_BACKENDS_REMOTE_WRITE_READER_H_
