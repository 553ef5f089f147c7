#include "aggregator/cells.h"

#include <algorithm>
#include <cmath>

namespace tallyd::aggregator {

void SampleCell::SwitchToSketch(double accuracy) {
  if (!sketch) sketch = std::make_unique<DDSketch>(accuracy);
  for (double v : samples) sketch->Add(v);
  samples.clear();
  sketched = true;
}

void SampleCell::Add(double value, double weight, size_t exact_limit, double accuracy) {
  overflows += !AddFinite(weighted_count, weight);
  ++n;
  overflows += !AddFinite(sum, value);
  overflows += !AddFinite(sum_squares, value * value);  // 1e200 squared is Inf: held too
  min = std::min(min, value);
  max = std::max(max, value);
  if (!sketched && samples.size() >= exact_limit) SwitchToSketch(accuracy);
  if (sketched) {
    sketch->Add(value);
  } else {
    samples.push_back(value);
  }
}

void SampleCell::MergeFrom(const SampleCell& other, size_t exact_limit, double accuracy) {
  if (other.n == 0) return;
  overflows += other.overflows;
  overflows += !AddFinite(weighted_count, other.weighted_count);
  n += other.n;
  overflows += !AddFinite(sum, other.sum);
  overflows += !AddFinite(sum_squares, other.sum_squares);
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  if (!sketched && (other.sketched || samples.size() + other.samples.size() > exact_limit)) {
    SwitchToSketch(accuracy);
  }
  if (sketched) {
    if (other.sketched) {
      sketch->Merge(*other.sketch);
    } else {
      for (double v : other.samples) sketch->Add(v);
    }
  } else {
    samples.insert(samples.end(), other.samples.begin(), other.samples.end());
  }
}

void SampleCell::Reset() {
  weighted_count = 0;
  n = 0;
  sum = 0;
  sum_squares = 0;
  min = std::numeric_limits<double>::infinity();
  max = -std::numeric_limits<double>::infinity();
  sketched = false;
  overflows = 0;
  samples.clear();
  if (sketch) sketch->Clear();
}

bool ValueHashSet::insert(uint64_t hash) {
  if (hash == 0) {
    if (has_zero_) return false;
    has_zero_ = true;
    ++size_;
    return true;
  }
  if (2 * (size_ + 1) > slots_.size()) Grow();
  const size_t mask = slots_.size() - 1;
  // The hashes' high bits pick the home slot (the low ones may carry less of the value).
  for (size_t i = (hash >> 32 ^ hash) & mask;; i = (i + 1) & mask) {
    if (slots_[i] == hash) return false;
    if (slots_[i] == 0) {
      slots_[i] = hash;
      ++size_;
      return true;
    }
  }
}

void ValueHashSet::clear() {
  if (size_ == 0) return;
  std::fill(slots_.begin(), slots_.end(), 0);
  size_ = 0;
  has_zero_ = false;
}

void ValueHashSet::Grow() {
  std::vector<uint64_t> old(slots_.empty() ? 16 : 2 * slots_.size(), 0);
  old.swap(slots_);
  const size_t zero = has_zero_ ? 1 : 0;
  size_ = zero;
  for (uint64_t h : old) {
    if (h != 0) insert(h);
  }
}

void SetCell::SwitchToHll() {
  if (!hll) hll = std::make_unique<HyperLogLog>();
  exact.ForEach([&](uint64_t h) { hll->Add(h); });
  exact.clear();
  sketched = true;
}

void SetCell::Add(uint64_t hash, size_t exact_limit) {
  if (sketched) {
    hll->Add(hash);
    return;
  }
  exact.insert(hash);
  if (exact.size() > exact_limit) SwitchToHll();
}

void SetCell::MergeFrom(const SetCell& other, size_t exact_limit) {
  if (!sketched && other.sketched) SwitchToHll();
  if (sketched) {
    if (other.sketched) {
      hll->Merge(*other.hll);
    } else {
      other.exact.ForEach([&](uint64_t h) { hll->Add(h); });
    }
    return;
  }
  other.exact.ForEach([&](uint64_t h) { exact.insert(h); });
  if (exact.size() > exact_limit) SwitchToHll();
}

double SetCell::Count() const {
  return sketched ? std::round(hll->Estimate()) : static_cast<double>(exact.size());
}

void SetCell::Reset() {
  exact.clear();
  if (hll) hll->Clear();
  sketched = false;
}

namespace {

// JavaScript's Math.round: the nearest integer, halves towards +infinity. floor(x + 0.5) is not
// quite it (0.49999999999999994 + 0.5 rounds up in floating point).
double RoundHalfUp(double x) {
  double f = std::floor(x);
  return x - f >= 0.5 ? f + 1 : f;
}

// Etsy's running sums: cumulative[i] = values[i] + cumulative[i - 1], in sorted order, so results
// match its floating-point rounding exactly (held finite, counted in *overflows). Returns the sums
// over values[0, end).
void PrefixSums(const std::vector<double>& v, size_t end, double* sum, double* sum_squares,
                uint64_t* overflows) {
  double s = 0, sq = 0;
  uint64_t held = 0;
  for (size_t i = 0; i < end; ++i) {
    held += !AddFinite(s, v[i]);
    held += !AddFinite(sq, v[i] * v[i]);
  }
  *sum = s;
  *sum_squares = sq;
  *overflows += held;
}

// The mean of two finite values, finite even when their sum is not.
double Midpoint(double a, double b) {
  const double m = (a + b) / 2;  // Etsy's rounding whenever it is finite
  return std::isfinite(m) ? m : a / 2 + b / 2;
}

void SummarizeExact(std::vector<double>& v, const std::vector<PercentileSpec>& specs,
                    SampleSummary& out, uint64_t* overflows) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  double total, total_squares;
  PrefixSums(v, n, &total, &total_squares, overflows);
  for (size_t i = 0; i < specs.size(); ++i) {
    PercentileValue& pv = out.percentiles[i];
    double p = specs[i].p;
    if (n == 1) {
      pv = {true, 1, v[0], v[0], v[0], total_squares};
      continue;
    }
    size_t k = static_cast<size_t>(RoundHalfUp(std::abs(p) / 100 * static_cast<double>(n)));
    if (k == 0) continue;
    k = std::min(k, n);
    pv.present = true;
    pv.count = static_cast<double>(k);
    if (p > 0) {
      pv.bound = v[k - 1];
      PrefixSums(v, k, &pv.sum, &pv.sum_squares, overflows);
    } else {
      // Etsy subtracts running sums; for k == n it would read cumulative[-1] (NaN), we use 0.
      pv.bound = v[n - k];
      double below = 0, below_squares = 0;
      PrefixSums(v, n - k, &below, &below_squares, overflows);
      pv.sum = ClampFinite(total - below, overflows);
      pv.sum_squares = ClampFinite(total_squares - below_squares, overflows);
    }
    pv.mean = pv.sum / static_cast<double>(k);
  }
  out.sum = total;
  out.sum_squares = total_squares;
  out.mean = total / static_cast<double>(n);
  double diffs = 0;
  uint64_t held = 0;
  for (double x : v) held += !AddFinite(diffs, (x - out.mean) * (x - out.mean));
  *overflows += held;
  out.std = std::sqrt(diffs / static_cast<double>(n));
  size_t mid = n / 2;
  out.median = n % 2 ? v[mid] : Midpoint(v[mid - 1], v[mid]);
}

// Sums over the samples of ascending rank [first, first + k), using bucket representatives.
void SketchRangeSums(const DDSketch& sketch, uint64_t first, uint64_t k, double* sum,
                     double* sum_squares, uint64_t* overflows) {
  double s = 0, sq = 0;
  uint64_t seen = 0;
  const uint64_t end = first + k;
  sketch.ForEachBin([&](double v, uint64_t c) {
    uint64_t lo = std::max(seen, first), hi = std::min(seen + c, end);
    if (hi > lo) {
      double x = std::clamp(v, sketch.min(), sketch.max());
      *overflows += !AddFinite(s, x * static_cast<double>(hi - lo));
      *overflows += !AddFinite(sq, x * x * static_cast<double>(hi - lo));
    }
    seen += c;
  });
  *sum = s;
  *sum_squares = sq;
}

void SummarizeSketch(const DDSketch& sketch, const std::vector<PercentileSpec>& specs,
                     SampleSummary& out, uint64_t* overflows) {
  const uint64_t n = out.samples;
  const double dn = static_cast<double>(n);
  for (size_t i = 0; i < specs.size(); ++i) {
    PercentileValue& pv = out.percentiles[i];
    double p = specs[i].p;
    uint64_t k = static_cast<uint64_t>(RoundHalfUp(std::abs(p) / 100 * dn));
    if (k == 0) continue;
    k = std::min(k, n);
    pv.present = true;
    pv.count = static_cast<double>(k);
    uint64_t first = p > 0 ? 0 : n - k;
    pv.bound = sketch.ValueAtRank(p > 0 ? k - 1 : n - k);
    SketchRangeSums(sketch, first, k, &pv.sum, &pv.sum_squares, overflows);
    pv.mean = pv.sum / static_cast<double>(k);
  }
  out.mean = out.sum / dn;
  // mean * mean may be Inf (then the variance estimate is 0), never NaN: sums are finite.
  out.std = std::sqrt(std::max(0.0, out.sum_squares / dn - out.mean * out.mean));
  out.median = n % 2 ? sketch.ValueAtRank(n / 2)
                     : Midpoint(sketch.ValueAtRank(n / 2 - 1), sketch.ValueAtRank(n / 2));
}

}  // namespace

SampleSummary SummarizeSamples(SampleCell& cell, const std::vector<PercentileSpec>& percentiles,
                               absl::Duration interval, bool keep_sketch, double accuracy,
                               uint64_t* overflows) {
  uint64_t held = cell.overflows;
  SampleSummary out;
  out.count = cell.weighted_count;
  double seconds = absl::ToDoubleSeconds(interval);
  out.count_ps = seconds > 0 ? ClampFinite(out.count / seconds, &held) : 0;
  out.samples = cell.n;
  out.lower = cell.min;
  out.upper = cell.max;
  out.sum = cell.sum;
  out.sum_squares = cell.sum_squares;
  out.percentiles.resize(percentiles.size());
  if (cell.n == 0) {
    if (overflows != nullptr) *overflows += held;
    return out;
  }
  // The snapshot gets copies: the cell keeps its memory for the next interval.
  if (!cell.sketched) {
    SummarizeExact(cell.samples, percentiles, out, &held);
    if (keep_sketch) {
      auto sketch = std::make_shared<DDSketch>(accuracy);
      for (double v : cell.samples) sketch->Add(v);
      out.sketch = std::move(sketch);
    }
    out.distribution = ValueDistribution::Exact(cell.samples);
  } else {
    SummarizeSketch(*cell.sketch, percentiles, out, &held);
    auto sketch = std::make_shared<const DDSketch>(*cell.sketch);
    if (keep_sketch) out.sketch = sketch;
    out.distribution = ValueDistribution::Sketched(std::move(sketch));
  }
  if (overflows != nullptr) *overflows += held;
  return out;
}

}  // namespace tallyd::aggregator
