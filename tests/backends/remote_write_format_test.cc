// RemoteWriteEncoder: samples -> snappy WriteRequest bodies, read back as a receiver does
// (snappy, then the generated prometheus.WriteRequest classes): label order and merging with
// external labels, splitting at max_samples_per_send, timestamps, `le` / `quantile` spelling.
#include "backends/remote_write_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "backends/proto/remote_write.pb.h"
#include "tests/backends/remote_write_reader.h"

namespace tallyd::backends {
namespace {

using ::testing::ElementsAre;

using Decoded = testing::DecodedSeries;
using testing::DecodeAll;

TEST(RemoteWriteEncoderTest, SortsLabelsNameFirstAndExternalLabelsDoNotOverride) {
  RemoteWriteLabels external = {{"env", "prod"}, {"host", "web-1"}, {"zone", ""}};
  RemoteWriteEncoder encoder(external, 100, 1234);
  std::vector<std::pair<std::string, std::string>> labels = {{"env", "test"}, {"path", "/a"}};
  encoder.Add("http_requests", labels, 7);
  encoder.Add("latency_bucket", labels, 3, {"le", "0.5"});
  std::vector<RemoteWriteRequest> requests = encoder.Finish();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].samples, 2u);
  std::vector<Decoded> series = DecodeAll(requests[0].body);
  ASSERT_EQ(series.size(), 2u);
  using L = std::pair<std::string, std::string>;
  // The series' env wins over the external one; an empty external value is no label.
  EXPECT_THAT(series[0].labels, ElementsAre(L{"__name__", "http_requests"}, L{"env", "test"},
                                            L{"host", "web-1"}, L{"path", "/a"}));
  EXPECT_EQ(series[0].value, 7);
  EXPECT_EQ(series[0].timestamp, 1234);
  EXPECT_THAT(series[1].labels, ElementsAre(L{"__name__", "latency_bucket"}, L{"env", "test"},
                                            L{"host", "web-1"}, L{"le", "0.5"}, L{"path", "/a"}));
}

TEST(RemoteWriteEncoderTest, UpperCaseLabelsSortBeforeTheName) {
  // The specification sorts label names by bytes: 'Z' (0x5a) < '_' (0x5f).
  RemoteWriteEncoder encoder({}, 100, 1);
  std::vector<std::pair<std::string, std::string>> labels = {{"Zone", "a"}, {"b", "c"}};
  encoder.Add("x", labels, 1);
  std::vector<Decoded> series = DecodeAll(encoder.Finish().at(0).body);
  ASSERT_EQ(series.size(), 1u);
  using L = std::pair<std::string, std::string>;
  EXPECT_THAT(series[0].labels, ElementsAre(L{"Zone", "a"}, L{"__name__", "x"}, L{"b", "c"}));
}

TEST(RemoteWriteEncoderTest, SplitsAtMaxSamplesPerSend) {
  RemoteWriteEncoder encoder({}, 3, 1);
  std::vector<std::pair<std::string, std::string>> none;
  for (int i = 0; i < 7; ++i) encoder.Add("s" + std::to_string(i), none, i);
  std::vector<RemoteWriteRequest> requests = encoder.Finish();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].samples, 3u);
  EXPECT_EQ(requests[1].samples, 3u);
  EXPECT_EQ(requests[2].samples, 1u);
  EXPECT_EQ(DecodeAll(requests[2].body).at(0).Label("__name__"), "s6");
  EXPECT_TRUE(encoder.Finish().empty());
}

TEST(RemoteWriteEncoderTest, FormatsBoundsShortest) {
  EXPECT_EQ(FormatPrometheusFloat(0.005), "0.005");
  EXPECT_EQ(FormatPrometheusFloat(1), "1");
  EXPECT_EQ(FormatPrometheusFloat(2.5), "2.5");
  EXPECT_EQ(FormatPrometheusFloat(0.99), "0.99");
  EXPECT_EQ(FormatPrometheusFloat(INFINITY), "+Inf");
}

TEST(RemoteWriteEncoderTest, ABodyThatIsNotSnappyDoesNotDecode) {
  prometheus::WriteRequest request;
  EXPECT_FALSE(DecodeRemoteWriteBody("not snappy at all", &request));
}

}  // namespace
}  // namespace tallyd::backends
