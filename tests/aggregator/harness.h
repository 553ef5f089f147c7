// Aggregator tests' harness: datagrams in through the real parser, one flush interval per Flush()
// with both clocks injected (wall for the snapshot, monotonic for series TTL).
#ifndef TALLYD_TESTS_AGGREGATOR_HARNESS_H_
#define TALLYD_TESTS_AGGREGATOR_HARNESS_H_

#include <gtest/gtest.h>

#include <memory>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "aggregator/aggregator.h"
#include "protocol/parser.h"

namespace tallyd::aggregator {

class Harness {
 public:
  explicit Harness(Options options = {}, int shards = 1,
                   absl::Duration interval = absl::Seconds(10))
      : interval_(interval), aggregator_(std::move(options), interval) {
    for (int i = 0; i < shards; ++i) shards_.push_back(aggregator_.AddShard());
  }
  // Parses and adds every line; a line the parser rejects fails the test. Returns how many
  // metric lines the shard rejected as invalid_utf8.
  int Send(std::string_view datagram, int shard = 0) {
    int invalid_utf8 = 0;
    protocol::ForEachLine(datagram, [&](std::string_view line) {
      protocol::ParsedLine parsed = protocol::ParseLine(line);
      switch (parsed.kind) {
        case protocol::LineKind::kMetric:
          invalid_utf8 += !shards_[shard]->Add(parsed.metric);
          break;
        case protocol::LineKind::kEvent:
          shards_[shard]->AddEvent(parsed.event);
          break;
        case protocol::LineKind::kServiceCheck:
          shards_[shard]->AddServiceCheck(parsed.service_check);
          break;
        default:
          ADD_FAILURE() << "rejected (" << protocol::RejectReasonName(parsed.reason)
                        << "): " << line;
      }
    });
    return invalid_utf8;
  }
  // One flush interval later on both clocks.
  std::shared_ptr<const Snapshot> Flush() {
    wall_ += interval_;
    mono_ += interval_;
    for (Shard* s : shards_) EXPECT_TRUE(s->Rotate(mono_));
    return aggregator_.Flush(wall_, mono_);
  }
  // A wall-clock step (NTP, an operator): the monotonic clock does not move.
  void StepWallClock(absl::Duration step) { wall_ += step; }
  absl::Time wall() const { return wall_; }
  Aggregator& aggregator() { return aggregator_; }
  Shard* shard(int i) { return shards_[i]; }

 private:
  absl::Duration interval_;
  absl::Time wall_ = absl::FromUnixSeconds(1'700'000'000);
  // Equal to the wall clock until a test steps it, so tests may also call Flush(now, now).
  absl::Time mono_ = wall_;
  Aggregator aggregator_;
  std::vector<Shard*> shards_;
};

inline const SeriesValue* Find(const Snapshot& s, std::string_view name, MetricType type,
                               std::string_view tags = "") {
  for (const SeriesValue& v : s.series) {
    if (v.key->name() == name && v.key->type() == type && v.key->tags() == tags) return &v;
  }
  return nullptr;
}

}  // namespace tallyd::aggregator

#endif  // TALLYD_TESTS_AGGREGATOR_HARNESS_H_
