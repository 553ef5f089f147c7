// DatadogRequestEncoder: items streamed into compressed requests that each stay within every
// limit (items, uncompressed JSON, bytes on the wire), hold every item once and in order, read
// back with the real decompressors and a real JSON parser, and reuse their buffers next flush.
#include "backends/datadog_encoder.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/backends/test_http_server.h"
#include "tests/backends/test_json.h"

namespace tallyd::backends {
namespace {

using testing::Json;
using testing::ParseJson;

constexpr DatadogCompression kCompressions[] = {
    DatadogCompression::kDeflate, DatadogCompression::kZstd, DatadogCompression::kNone};

// A series-like item: compressible text with a random part, of about `size` bytes.
std::string Item(int i, size_t size, std::mt19937_64& rng) {
  std::string pad;
  while (pad.size() + 40 < size) pad += "tag" + std::to_string(rng() % 1000) + ",";
  return "{\"metric\":\"m" + std::to_string(i) + "\",\"pad\":\"" + pad + "\"}";
}

struct Decoded {
  std::vector<Json> items;
  size_t wire = 0;
  size_t json = 0;
};

// Each request decoded and parsed; fails the test on a body that does not read back.
std::vector<Decoded> Decode(const std::vector<DatadogRequest>& requests) {
  std::vector<Decoded> out;
  for (const DatadogRequest& r : requests) {
    std::string json;
    EXPECT_TRUE(testing::DecodeBody(std::string(r.encoding), std::string(r.body), &json))
        << r.encoding;
    std::optional<Json> parsed = ParseJson(json);
    EXPECT_TRUE(parsed.has_value()) << json.substr(0, 200);
    Decoded d;
    d.wire = r.body.size();
    d.json = json.size();
    if (parsed.has_value()) {
      for (const Json& one : (*parsed)["series"]) d.items.push_back(one);
    }
    EXPECT_EQ(d.items.size(), r.items);
    out.push_back(std::move(d));
  }
  return out;
}

// Random items against random limits, every compression: the property the backend relies on.
TEST(DatadogEncoderTest, EveryRequestWithinItsLimitsEveryItemOnceInOrder) {
  std::mt19937_64 rng(11);
  for (DatadogCompression compression : kCompressions) {
    for (int round = 0; round < 12; ++round) {
      DatadogLimits limits;
      limits.max_compressed = 3000 + rng() % 60000;
      // Every other round the compressed limit is the one that binds.
      limits.max_uncompressed = round % 2 == 0 ? 6000 + rng() % 200000 : 5 << 20;
      limits.max_items = round % 3 == 0 ? 50 + rng() % 200 : 0;
      DatadogRequestEncoder encoder(DatadogEndpoint::kSeries, compression, limits);
      const int n = 500 + static_cast<int>(rng() % 3000);
      for (int i = 0; i < n; ++i) {
        std::string& buffer = encoder.BeginItem();
        buffer += Item(i, 60 + rng() % 900, rng);
        encoder.EndItem(true);
      }
      encoder.Finish();
      std::vector<DatadogRequest> requests;
      encoder.AppendRequests(&requests);
      EXPECT_EQ(encoder.too_large(), 0u);
      int next = 0;
      std::vector<Decoded> decoded = Decode(requests);
      for (size_t r = 0; r < decoded.size(); ++r) {
        const Decoded& d = decoded[r];
        SCOPED_TRACE("round " + std::to_string(round) + " request " + std::to_string(r));
        EXPECT_LE(d.wire, limits.max_compressed);
        EXPECT_LE(d.json, limits.max_uncompressed);
        if (limits.max_items != 0) {
          EXPECT_LE(d.items.size(), limits.max_items);
        }
        // Not split needlessly: a request that closed early was near one of its limits.
        if (r + 1 < decoded.size()) {
          const bool full = d.wire * 10 >= limits.max_compressed * 6 ||
                            d.json + 1000 >= limits.max_uncompressed ||
                            d.items.size() == limits.max_items;
          EXPECT_TRUE(full) << d.wire << " " << d.json << " " << d.items.size();
        }
        for (const Json& item : d.items) {
          EXPECT_EQ(item["metric"], "m" + std::to_string(next));
          ++next;
        }
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(DatadogEncoderTest, AnItemAloneAboveTheCompressedLimitIsDroppedAndCounted) {
  std::mt19937_64 rng(3);
  for (DatadogCompression compression : kCompressions) {
    DatadogRequestEncoder encoder(DatadogEndpoint::kSeries, compression, {300, 1 << 20, 0});
    std::string random(4000, ' ');
    for (char& c : random) c = static_cast<char>('a' + rng() % 26);  // compresses poorly
    for (const std::string& item :
         {std::string("{\"metric\":\"small0\"}"), "{\"metric\":\"big\",\"pad\":\"" + random + "\"}",
          std::string("{\"metric\":\"small1\"}")}) {
      encoder.BeginItem() += item;
      encoder.EndItem(true);
    }
    encoder.Finish();
    std::vector<DatadogRequest> requests;
    encoder.AppendRequests(&requests);
    std::vector<Decoded> decoded = Decode(requests);
    ASSERT_EQ(decoded.size(), 2u);
    EXPECT_EQ(decoded[0].items[0]["metric"], "small0");
    EXPECT_EQ(decoded[1].items[0]["metric"], "small1");
    EXPECT_EQ(encoder.too_large(), 1u);
  }
}

TEST(DatadogEncoderTest, ADroppedItemLeavesNoTraceAndEventsGoOnePerRequest) {
  DatadogRequestEncoder series(DatadogEndpoint::kSeries, DatadogCompression::kNone,
                               {1 << 20, 1 << 20, 0});
  for (int i = 0; i < 3; ++i) {
    series.BeginItem() += "{\"metric\":\"m" + std::to_string(i) + "\"}";
    series.EndItem(i != 1);
  }
  series.Finish();
  std::vector<DatadogRequest> requests;
  series.AppendRequests(&requests);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, "{\"series\":[{\"metric\":\"m0\"},{\"metric\":\"m2\"}]}");

  DatadogRequestEncoder events(DatadogEndpoint::kEvents, DatadogCompression::kDeflate,
                               DatadogLimitsFor(DatadogEndpoint::kEvents));
  for (int i = 0; i < 3; ++i) {
    events.BeginItem() += "{\"title\":\"e" + std::to_string(i) + "\"}";
    events.EndItem(true);
  }
  events.Finish();
  requests.clear();
  events.AppendRequests(&requests);
  ASSERT_EQ(requests.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    std::string json;
    ASSERT_TRUE(testing::DecodeBody("deflate", std::string(requests[i].body), &json));
    EXPECT_EQ(json, "{\"title\":\"e" + std::to_string(i) + "\"}");
  }
}

// The next flush writes into the same buffers: no body is allocated again.
TEST(DatadogEncoderTest, BuffersAreKeptAcrossFlushes) {
  for (DatadogCompression compression : kCompressions) {
    DatadogRequestEncoder encoder(DatadogEndpoint::kSeries, compression, {20000, 100000, 0});
    std::vector<const char*> first;
    for (int flush = 0; flush < 2; ++flush) {
      std::mt19937_64 rng(5);
      encoder.Reset();
      for (int i = 0; i < 2000; ++i) {
        encoder.BeginItem() += Item(i, 200, rng);
        encoder.EndItem(true);
      }
      encoder.Finish();
      std::vector<DatadogRequest> requests;
      encoder.AppendRequests(&requests);
      ASSERT_GT(requests.size(), 2u);
      Decode(requests);
      for (size_t r = 0; r < requests.size(); ++r) {
        if (flush == 0) {
          first.push_back(requests[r].body.data());
        } else {
          ASSERT_LT(r, first.size());
          EXPECT_EQ(requests[r].body.data(), first[r]) << "request " << r;
        }
      }
    }
  }
}

// A huge flush's bodies are not all kept: past kRetainedBytes they are freed at the next Reset,
// so memory between flushes does not stay at the largest flush ever seen.
TEST(DatadogEncoderTest, BodiesPastTheRetainedBoundAreFreed) {
  DatadogRequestEncoder encoder(DatadogEndpoint::kSeries, DatadogCompression::kNone,
                                {1000000, 1 << 20, 1 << 20});
  std::mt19937_64 rng(9);
  const std::string item = Item(0, 1000, rng);
  encoder.Reset();
  // ~40 MB of JSON in ~1 MiB requests.
  for (int i = 0; i < 40000; ++i) {
    encoder.BeginItem() += item;
    encoder.EndItem(true);
  }
  encoder.Finish();
  std::vector<DatadogRequest> requests;
  encoder.AppendRequests(&requests);
  ASSERT_GT(requests.size(), 30u);
  EXPECT_GT(encoder.retained_bytes(), 2 * DatadogRequestEncoder::kRetainedBytes);
  encoder.Reset();
  EXPECT_LE(encoder.retained_bytes(), DatadogRequestEncoder::kRetainedBytes);
  EXPECT_GT(encoder.retained_bytes(), DatadogRequestEncoder::kRetainedBytes / 2);
}

}  // namespace
}  // namespace tallyd::backends
