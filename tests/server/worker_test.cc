// Worker: what it logs about the lines it rejects (SPEC 2: logged lines are escaped).
#include "server/worker.h"

#include <glog/logging.h>

#include <mutex>
#include <string>
#include <vector>

#include "aggregator/aggregator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tallyd::server {
namespace {

using ::testing::HasSubstr;

bool AllPrintableAscii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return false;
    }
  }
  return true;
}

TEST(EscapeForLogTest, KeepsPrintableAsciiAndEscapesEverythingElse) {
  EXPECT_EQ(EscapeForLog("plain:1|c", 200), "plain:1|c");
  EXPECT_EQ(EscapeForLog("a\x1b[31mb", 200), "a\\x1b[31mb");
  EXPECT_EQ(EscapeForLog(std::string("nul\0bel\a\r\x7f", 10), 200), "nul\\x00bel\\x07\\x0d\\x7f");
  EXPECT_EQ(EscapeForLog("caf\xc3\xa9", 200), "caf\\xc3\\xa9");
  // A backslash is escaped too, so "\x1b" typed by a client cannot pass for an escaped byte.
  EXPECT_EQ(EscapeForLog("back\\x1b", 200), "back\\\\x1b");
}

TEST(EscapeForLogTest, BoundsTheLengthWithoutCuttingAnEscape) {
  EXPECT_EQ(EscapeForLog(std::string(500, 'x'), 10), "xxxxxxxxxx...");
  // 8 characters fit; the next escape (4) would pass 10: cut before it, not inside it.
  EXPECT_EQ(EscapeForLog("abcdefgh\x01zz", 10), "abcdefgh...");
  const std::string long_control(10000, '\x1b');
  const std::string escaped = EscapeForLog(long_control, kLoggedLineChars);
  EXPECT_LE(escaped.size(), kLoggedLineChars + 3);
  EXPECT_TRUE(AllPrintableAscii(escaped));
}

// Collects what glog logs, as stderr would receive it.
class CapturingSink : public google::LogSink {
 public:
  void send(google::LogSeverity, const char*, const char*, int, const google::LogMessageTime&,
            const char* message, size_t length) override {
    std::lock_guard lock(mu_);
    messages_.emplace_back(message, length);
  }
  std::vector<std::string> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> messages_;
};

TEST(WorkerTest, RejectedLineSampleReachesTheLogEscaped) {
  aggregator::Aggregator aggregator(aggregator::Options{}, absl::Seconds(10));
  Worker worker(0, aggregator.AddShard(), WorkerOptions{});
  CapturingSink sink;
  google::AddLogSink(&sink);
  // A line a terminal would act on: clear the screen, set the window title, ring the bell.
  worker.OnData("\x1b[2J\x1b]0;owned\x07:1|zz\n", Transport::kUdp);
  google::RemoveLogSink(&sink);

  uint64_t rejected = 0;
  for (const RelaxedCounter& c : worker.counters().rejected) rejected += c.Get();
  EXPECT_EQ(rejected, 1u);
  std::vector<std::string> logged = sink.messages();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_THAT(logged[0], HasSubstr("rejected line"));
  EXPECT_THAT(logged[0], HasSubstr("\\x1b[2J\\x1b]0;owned\\x07:1|zz"));
  EXPECT_TRUE(AllPrintableAscii(logged[0])) << logged[0];
}

}  // namespace
}  // namespace tallyd::server
