#include "aggregator/snapshot.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace tallyd::aggregator {

std::string PercentileSuffix(double p) {
  // Etsy: ('' + pct).replace('.', '_').replace('-', 'top'). The shortest round-trip form is what
  // JavaScript prints for the usual percentiles (50, 99.9, 0.5).
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), p);
  std::string text(buffer, result.ptr);
  if (size_t dot = text.find('.'); dot != std::string::npos) text[dot] = '_';
  if (size_t minus = text.find('-'); minus != std::string::npos) text.replace(minus, 1, "top");
  return text;
}

PercentileSpec MakePercentileSpec(double p) {
  PercentileSpec spec;
  spec.p = p;
  spec.suffix = PercentileSuffix(p);
  spec.count_name = "count_" + spec.suffix;
  spec.mean_name = "mean_" + spec.suffix;
  spec.bound_name = (p > 0 ? "upper_" : "lower_") + spec.suffix;
  spec.sum_name = "sum_" + spec.suffix;
  spec.sum_squares_name = "sum_squares_" + spec.suffix;
  return spec;
}

ValueDistribution ValueDistribution::Exact(std::vector<double> sorted) {
  ValueDistribution d;
  d.sorted_ = std::move(sorted);
  return d;
}

ValueDistribution ValueDistribution::Sketched(std::shared_ptr<const DDSketch> sketch) {
  ValueDistribution d;
  d.sketch_ = std::move(sketch);
  return d;
}

double Snapshot::RateOf(const SeriesValue& series_value) const {
  const double seconds = absl::ToDoubleSeconds(interval);
  if (seconds <= 0) return 0;
  const double rate = series_value.value / seconds;
  // A finite count over a short interval may overflow: held. A value that is not finite (the
  // aggregator never makes one) stays so, for the backends' own guards to skip.
  if (std::isfinite(rate) || !std::isfinite(series_value.value)) return rate;
  return std::copysign(std::numeric_limits<double>::max(), rate);
}

uint64_t ValueDistribution::count() const { return sketch_ ? sketch_->count() : sorted_.size(); }

double ValueDistribution::ValueAtRank(uint64_t rank) const {
  if (sketch_) return sketch_->ValueAtRank(rank);
  if (sorted_.empty()) return std::numeric_limits<double>::quiet_NaN();
  return sorted_[std::min<uint64_t>(rank, sorted_.size() - 1)];
}

double ValueDistribution::Quantile(double q) const {
  if (sketch_) return sketch_->Quantile(q);
  double r = std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted_.size())) - 1;
  return ValueAtRank(r <= 0 ? 0 : static_cast<uint64_t>(r));
}

uint64_t ValueDistribution::CountAtOrBelow(double x) const {
  if (sketch_) return sketch_->CountAtOrBelow(x);
  return std::upper_bound(sorted_.begin(), sorted_.end(), x) - sorted_.begin();
}

}  // namespace tallyd::aggregator
