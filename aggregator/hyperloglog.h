// aggregator/hyperloglog.h: distinct counting for sets past exact_set_size (SPEC 3).
//
// HyperLogLog with 2^14 one-byte registers (16 KiB, standard error 0.8 %, so 2 % is ~2.5 sigma)
// and Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog sketches",
// 2017), which needs no bias tables and stays accurate from a handful of values to billions.
// Inputs are 64-bit hashes of the set values; registers merge by maximum, so shards merge exactly.
#ifndef TALLYD_AGGREGATOR_HYPERLOGLOG_H_
#define TALLYD_AGGREGATOR_HYPERLOGLOG_H_

#include <cstdint>
#include <vector>

namespace tallyd::aggregator {

class HyperLogLog {
 public:
  static constexpr int kPrecision = 14;
  static constexpr uint32_t kRegisters = 1u << kPrecision;

  HyperLogLog();
  void Add(uint64_t hash);
  void Merge(const HyperLogLog& other);
  void Clear();  // keeps the registers' memory
  double Estimate() const;

 private:
  std::vector<uint8_t> registers_;
};

}  // namespace tallyd::aggregator

#endif  // TALLYD_AGGREGATOR_HYPERLOGLOG_H_
