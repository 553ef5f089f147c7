#include "aggregator/series_registry.h"

#include <algorithm>

namespace tallyd::aggregator {

SeriesRegistry::~SeriesRegistry() {
  for (Stripe& stripe : stripes_) {
    for (const SeriesKey* key : stripe.slots) {
      if (key != nullptr) SeriesKeyRef::Adopt(key);  // drops the table's reference
    }
  }
}

void SeriesRegistry::SetLimits(size_t max_series, size_t max_series_per_metric) {
  // Stripes before alloc_mu_, as everywhere: the recount reads every stripe.
  std::vector<std::unique_lock<std::mutex>> held;
  const bool recount = max_series_per_metric != 0;
  if (recount) {
    held.reserve(kStripes);
    for (Stripe& stripe : stripes_) held.emplace_back(stripe.mu);
  }
  std::lock_guard lock(alloc_mu_);
  max_series_ = max_series;
  const bool was_counted = max_series_per_metric_ != 0;
  max_series_per_metric_ = max_series_per_metric;
  if (!recount) {
    live_per_name_.clear();
    return;
  }
  if (was_counted) return;
  live_per_name_.clear();
  for (const Stripe& stripe : stripes_) {
    for (const SeriesKey* key : stripe.slots) {
      if (key != nullptr) ++CountOf(live_per_name_, key->name());
    }
  }
}

size_t SeriesRegistry::size() const {
  std::lock_guard lock(alloc_mu_);
  return live_;
}

bool SeriesRegistry::Admit(int pool, std::string_view name, uint32_t* slot, Refusal* why) {
  if (live_ >= max_series_) {
    *why = Refusal::kMaxSeries;
    return false;
  }
  if (!AdmitSeriesOfName(live_per_name_, name, max_series_per_metric_)) {
    *why = Refusal::kPerMetric;
    return false;
  }
  if (!free_slots_[pool].empty()) {
    *slot = free_slots_[pool].back();
    free_slots_[pool].pop_back();
  } else {
    *slot = next_slot_[pool]++;
  }
  ++live_;
  return true;
}

SeriesKeyRef SeriesRegistry::Acquire(MetricType type, std::string_view name, std::string_view tags,
                                     uint64_t hash,
                                     std::shared_ptr<const mapping::SeriesOptions> options,
                                     Refusal* why) {
  const auto hash32 = static_cast<uint32_t>(hash);
  Stripe& stripe = StripeOf(hash32);
  std::lock_guard lock(stripe.mu);
  if (const size_t n = stripe.slots.size(); n != 0) {
    for (size_t i = HomeOf(hash32, n);; i = i + 1 == n ? 0 : i + 1) {
      const SeriesKey* key = stripe.slots[i];
      if (key == nullptr) break;
      if (key->hash32() == hash32 && key->type() == type && key->name() == name &&
          key->tags() == tags) {
        // At most a few references per shard (one, and one more while an eviction is not yet
        // merged) and at most 1024 workers: 16 bits are plenty, but never wrap.
        if (key->shard_refs_ == UINT16_MAX) {
          *why = Refusal::kMaxSeries;
          return nullptr;
        }
        ++key->shard_refs_;
        return SeriesKeyRef::Share(key);
      }
    }
  }
  const int pool = PoolOf(type);
  uint32_t slot;
  {
    std::lock_guard alloc(alloc_mu_);
    if (!Admit(pool, name, &slot, why)) return nullptr;
  }
  SeriesKeyRef key = SeriesKey::Make(next_id_.fetch_add(1, std::memory_order_relaxed), type, name,
                                     tags, hash, SeriesOf(pool, slot), std::move(options));
  key->shard_refs_ = 1;
  Reserve(stripe);
  Place(stripe, SeriesKeyRef::Share(key.get()).Leak());
  ++stripe.size;
  *why = Refusal::kNone;
  return key;
}

void SeriesRegistry::Reserve(Stripe& stripe) {
  if ((stripe.size + 1) * 4 <= stripe.slots.size() * 3) return;
  const size_t n = stripe.slots.size();
  std::vector<const SeriesKey*> old(n == 0 ? 64 : n + n / 2);
  old.swap(stripe.slots);
  for (const SeriesKey* k : old) {
    if (k != nullptr) Place(stripe, k);
  }
}

void SeriesRegistry::Place(Stripe& stripe, const SeriesKey* key) {
  const size_t n = stripe.slots.size();
  size_t i = HomeOf(key->hash32(), n);
  while (stripe.slots[i] != nullptr) i = i + 1 == n ? 0 : i + 1;
  stripe.slots[i] = key;
}

// Backward-shift deletion: every other key stays reachable from its home without tombstones.
void SeriesRegistry::Erase(Stripe& stripe, const SeriesKey* key) {
  const size_t n = stripe.slots.size();
  auto next = [n](size_t i) { return i + 1 == n ? 0 : i + 1; };
  size_t i = HomeOf(key->hash32(), n);
  while (stripe.slots[i] != key) i = next(i);
  for (size_t j = i;;) {
    j = next(j);
    if (stripe.slots[j] == nullptr) break;
    const size_t home = HomeOf(stripe.slots[j]->hash32(), n);
    // slots[j] may fill the hole at i unless its home lies cyclically in (i, j].
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    stripe.slots[i] = stripe.slots[j];
    i = j;
  }
  stripe.slots[i] = nullptr;
  --stripe.size;
}

void SeriesRegistry::Release(const SeriesKey& key) {
  Stripe& stripe = StripeOf(key.hash32());
  std::lock_guard lock(stripe.mu);
  if (key.shard_refs_ > 0) --key.shard_refs_;
}

bool SeriesRegistry::TryForget(const SeriesKey& key) {
  Stripe& stripe = StripeOf(key.hash32());
  {
    std::lock_guard lock(stripe.mu);
    if (key.shard_refs_ != 0) return false;
    Erase(stripe, &key);
    std::lock_guard alloc(alloc_mu_);
    free_slots_[PoolOfSeries(key.series())].push_back(SlotOfSeries(key.series()));
    ReleaseSeriesOfName(live_per_name_, key.name());
    --live_;
  }
  SeriesKeyRef::Adopt(&key);  // the table's reference; the caller still holds one
  return true;
}

}  // namespace tallyd::aggregator
