// backends/prometheus_text.h: the Prometheus text exposition format (0.0.4), written exactly as
// prometheus-cpp's TextSerializer writes it, from a PrometheusState walk (a PrometheusVisitor),
// so a scrape is rendered straight from the state in bounded pieces instead of a copy of it.
#ifndef TALLYD_BACKENDS_PROMETHEUS_TEXT_H_
#define TALLYD_BACKENDS_PROMETHEUS_TEXT_H_

#include <span>
#include <string>
#include <vector>

#include "backends/prometheus_state.h"

namespace tallyd::backends {

// Appends each family and series it is given to `*out` (the caller drains it between calls).
class PrometheusTextWriter : public PrometheusVisitor {
 public:
  explicit PrometheusTextWriter(std::string* out) : out_(out) {}
  void Family(const PrometheusFamilyView& family) override;
  void Series(const PrometheusSeriesView& series) override;

 private:
  void CountAndSum(const PrometheusSeriesView& series);
  // The text of each quantile level or bucket bound, formatted when the list differs from the
  // last series' (once per family in practice) instead of once per line.
  const std::vector<std::string>& LevelTexts(std::span<const double> levels);
  void Head(const PrometheusSeriesView& series, std::string_view suffix,
            std::string_view extra_label = {}, std::string_view extra_value = {});

  std::string* out_;
  std::string name_;  // of the family being written
  PrometheusType type_ = PrometheusType::kCounter;
  std::vector<double> levels_;  // what level_texts_ was formatted from
  std::vector<std::string> level_texts_;
};

// The conversion counts as counter families (tallyd_prometheus_*_total).
void WritePrometheusCounts(const std::vector<SelfMetric>& counts, std::string* out);

}  // namespace tallyd::backends

#endif  // TALLYD_BACKENDS_PROMETHEUS_TEXT_H_
