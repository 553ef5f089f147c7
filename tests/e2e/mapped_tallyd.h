// tests/e2e/mapped_tallyd.h: the set-up the mapping end-to-end tests share: tallyd started on a
// mapping file of the test's (in its own scratch directory), UDP in and the Prometheus scrape
// out on ports it picks, and the scrape read back sample by sample.
#ifndef TALLYD_TESTS_E2E_MAPPED_TALLYD_H_
#define TALLYD_TESTS_E2E_MAPPED_TALLYD_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/common/temp_dir.h"
#include "tests/e2e/tallyd_process.h"

namespace tallyd::testing {

using Labels = std::map<std::string, std::string>;

// The value of the sample `name{labels}` (exactly these labels) in a scrape, if present.
std::optional<std::string> SampleValue(const std::string& exposition, const std::string& name,
                                       const Labels& labels = {});

class MappedTallyd {
 public:
  // Writes `mapping` to mapping.yml and starts tallyd on it (flush interval 200 ms), with
  // `extra_args` after the others. Call WaitReady() before talking to it.
  explicit MappedTallyd(const std::string& mapping, std::vector<std::string> extra_args = {});

  bool WaitReady() { return process_.WaitReady(); }
  TallydProcess& process() { return process_; }
  const std::string& mapping_path() const { return mapping_path_; }

  // Replaces the mapping file's text (SIGHUP makes tallyd read it).
  void WriteMapping(const std::string& mapping) const;
  void Send(const std::string& payload);
  std::string Scrape();
  // Sends `payload` until a scrape satisfies `ready` (a failed expectation after 20 s), then
  // returns that scrape. A "%d" in the payload becomes the attempt's number (a new series each
  // time); an empty payload sends nothing.
  std::string ScrapeUntil(const std::string& payload,
                          const std::function<bool(const std::string&)>& ready);

 private:
  TempDir dir_;
  std::string mapping_path_;
  TallydProcess process_;
};

}  // namespace tallyd::testing

#endif  // TALLYD_TESTS_E2E_MAPPED_TALLYD_H_
