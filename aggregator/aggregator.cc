#include "aggregator/aggregator.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace tallyd::aggregator {
namespace {

bool IsSampleType(MetricType type) {
  return type == MetricType::kTimer || type == MetricType::kHistogram ||
         type == MetricType::kDistribution;
}

}  // namespace

absl::Time MonotonicNow() {
  return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

Aggregator::Aggregator(Options options, absl::Duration flush_interval)
    : flush_interval_(flush_interval) {
  UpdateOptions(std::move(options));
}

Aggregator::~Aggregator() = default;

Shard* Aggregator::AddShard() {
  std::lock_guard lock(shards_mu_);
  shards_.push_back(std::make_unique<Shard>(options_, &registry_));
  return shards_.back().get();
}

void Aggregator::UpdateOptions(Options options) {
  options_ = std::make_shared<const Options>(std::move(options));
  registry_.SetLimits(options_->max_series, options_->max_series_per_metric);
  percentiles_.clear();
  for (double p : options_->percentiles) {
    if (p != 0 && p >= -100 && p <= 100) percentiles_.push_back(MakePercentileSpec(p));
  }
  std::lock_guard lock(shards_mu_);
  for (auto& shard : shards_) shard->SetOptions(options_);
}

void Aggregator::RequestRotation(absl::Time mono_now) {
  std::lock_guard lock(shards_mu_);
  for (auto& shard : shards_) shard->RequestRotation(mono_now);
}

bool Aggregator::AwaitRotation(absl::Time deadline) {
  std::lock_guard lock(shards_mu_);
  bool all = true;
  for (auto& shard : shards_) all = shard->AwaitInterval(deadline) && all;
  return all;
}

Aggregator::GlobalSeries& Aggregator::Touch(GlobalSeries& gs, absl::Time mono_now) {
  if (!gs.touched) {
    gs.touched = true;
    // An expired gauge that a shard still referenced is a new gauge again: deltas set it.
    if (gs.last_flush != kNever && Expired(gs, mono_now)) {
      gs.has_value = false;
    }
    if (gs.key->type() == MetricType::kCounter) gs.value = 0;
  }
  return gs;
}

void Aggregator::MergeInterval(Interval& iv, absl::Time mono_now, Snapshot& snapshot) {
  const Options& options = *options_;
  FlushStats& stats = snapshot.stats;
  // Every shard that began to refer to a series announces it; the first makes the record. The
  // series cannot have been forgotten in between: the announcing shard's reference forbids it.
  for (NewSeries& def : iv.new_series) {
    const uint32_t series = def.key->series();
    std::vector<GlobalSeries>& pool = series_[PoolOfSeries(series)];
    const uint32_t slot = SlotOfSeries(series);
    GrowTo(pool, slot + 1, options.max_series);
    GlobalSeries& gs = pool[slot];
    if (gs.key != nullptr) continue;
    gs = GlobalSeries();
    if (const mapping::SeriesOptions* o = def.key->mapping_options(); o != nullptr) {
      longest_ttl_ = std::max(longest_ttl_, o->ttl);
    }
    gs.key = std::move(def.key);
    ++live_series_;
    ++series_created_;
  }
  auto touch = [&](int pool, uint32_t slot) -> GlobalSeries* {
    return &Touch(series_[pool][slot], mono_now);
  };
  // This flush's accumulator of a sampled series or set, taken from the recycled pool.
  auto accumulator = [](GlobalSeries & gs, auto& pool, size_t& used) -> auto& {
    if (gs.acc < 0) {
      if (used == pool.size()) pool.emplace_back();
      gs.acc = static_cast<int32_t>(used++);
    }
    return pool[gs.acc];
  };
  iv.counters.Drain([&](uint32_t slot, CounterCell& cell) {
    stats.overflows += !AddFinite(touch(0, slot)->value, cell.sum);
  });
  iv.gauges.Drain([&](uint32_t slot, GaugeCell& cell) {
    GlobalSeries* gs = touch(1, slot);
    // Several shards may hold the gauge this flush (one sender's datagrams spread over the
    // workers), merged in shard order, not receive order: the absolute value received last
    // wins, and Etsy deltas of shards that set no value apply on top of it, whatever the order.
    // (A superseded shard's own deltas after its older value are lost with it: a cell keeps no
    // time per delta.)
    if (gs->acc < 0) {
      if (gauge_merges_used_ == gauge_merges_.size()) gauge_merges_.emplace_back();
      gs->acc = static_cast<int32_t>(gauge_merges_used_++);
      gauge_merges_[gs->acc] = GaugeMerge();
    }
    GaugeMerge& merge = gauge_merges_[gs->acc];
    if (!gs->has_value) gs->value = 0;  // a delta sets a new gauge (Etsy), as if from 0
    gs->has_value = true;
    if (cell.absolute()) {
      if (cell.set_ns < merge.set_ns) return;  // another shard's value came later
      merge.set_ns = cell.set_ns;
      gs->value = cell.value;
      stats.overflows += !AddFinite(gs->value, merge.deltas);
    } else {
      AddFinite(merge.deltas, cell.value);
      stats.overflows += !AddFinite(gs->value, cell.value);  // Etsy deltas
    }
  });
  iv.samples.Drain([&](uint32_t slot, SampleCell& cell) {
    GlobalSeries* gs = touch(2, slot);
    SampleCell& acc = accumulator(*gs, sample_accs_, sample_accs_used_);
    if (acc.n == 0) {
      std::swap(acc, cell);  // no copy for the common single-shard case; cell gets a clean one
    } else {
      acc.MergeFrom(cell, options.exact_samples, options.sketch_accuracy);
    }
  });
  iv.sets.Drain([&](uint32_t slot, SetCell& cell) {
    GlobalSeries* gs = touch(3, slot);
    SetCell& acc = accumulator(*gs, set_accs_, set_accs_used_);
    if (acc.exact.empty() && !acc.sketched) {
      std::swap(acc, cell);
    } else {
      acc.MergeFrom(cell, options.exact_set_size);
    }
  });
  for (const ShardTimedPoint& p : iv.points) {
    snapshot.timestamped_points.push_back({Record(p.series).key, p.value, p.timestamp});
  }
  for (EventRecord& e : iv.events) snapshot.events.push_back(std::move(e));
  for (ServiceCheckRecord& c : iv.service_checks) snapshot.service_checks.push_back(std::move(c));
  // The shard's samples of these series are merged (above, and in earlier intervals): its
  // reference may go.
  for (uint32_t series : iv.evicted) registry_.Release(*Record(series).key);
  stats.series_dropped += iv.series_dropped;
  stats.series_dropped_per_metric += iv.series_dropped_per_metric;
  for (const auto& [name, n] : iv.dropped_by_name) CountOf(dropped_by_name_, name) += n;
  stats.overflows += iv.overflows;
  stats.mapping_dropped += iv.mapping_dropped;
  stats.timestamped_points_dropped += iv.points_dropped;
  stats.events_dropped += iv.events_dropped;
  stats.service_checks_dropped += iv.service_checks_dropped;
  iv.ResetLists();
}

void Aggregator::ReportTopDroppedNames(FlushStats& stats) {
  std::vector<NameDrops>& top = stats.series_dropped_top_names;
  top.reserve(std::min(dropped_by_name_.size(), FlushStats::kTopDroppedNames));
  auto more = [](const NameDrops& a, const NameDrops& b) {
    return a.dropped != b.dropped ? a.dropped > b.dropped : a.name < b.name;
  };
  // A bounded min-heap of the best so far: one pass, kTopDroppedNames names kept.
  for (const auto& [name, n] : dropped_by_name_) {
    NameDrops candidate{name, n};
    if (top.size() < FlushStats::kTopDroppedNames) {
      top.push_back(std::move(candidate));
      std::push_heap(top.begin(), top.end(), more);
    } else if (more(candidate, top.front())) {
      std::pop_heap(top.begin(), top.end(), more);
      top.back() = std::move(candidate);
      std::push_heap(top.begin(), top.end(), more);
    }
  }
  std::sort_heap(top.begin(), top.end(), more);
  dropped_by_name_.clear();
}

bool Aggregator::TryForget(GlobalSeries& gs) {
  if (!registry_.TryForget(*gs.key)) return false;
  gs = GlobalSeries();
  --live_series_;
  return true;
}

void Aggregator::BuildSeries(absl::Time mono_now, Snapshot& snapshot) {
  const double seconds = absl::ToDoubleSeconds(flush_interval_);
  for (std::vector<GlobalSeries>& pool : series_) {
    // Each record's key is read (type) and referenced (the snapshot's copy): a cache miss per
    // series unless loaded ahead.
    constexpr size_t kAhead = 16;
    for (size_t i = 0; i < pool.size(); ++i) {
      if (i + kAhead < pool.size()) __builtin_prefetch(pool[i + kAhead].key.get(), 1);
      if (pool[i].key == nullptr) continue;
      BuildOne(pool[i], mono_now, seconds, snapshot);
    }
  }
  sample_accs_used_ = 0;
  set_accs_used_ = 0;
  gauge_merges_used_ = 0;
}

void Aggregator::BuildOne(GlobalSeries& gs, absl::Time mono_now, double seconds,
                          Snapshot& snapshot) {
  FlushStats& stats = snapshot.stats;
  const MetricType type = gs.key->type();
  if (gs.touched) {
    gs.last_flush = FlushNumber();
  } else if (gs.last_flush == kNever || Expired(gs, mono_now)) {
    // Expired, or only ever sent timestamped points: nothing to report. Keep the record while
    // a shard still refers to the series, so that shard's next samples land here.
    const bool had_samples = gs.last_flush != kNever;
    if (TryForget(gs)) {
      if (had_samples) ++stats.series_expired;
    } else {
      ++stats.series_active[static_cast<int>(type)];
    }
    return;
  }
  ++stats.series_active[static_cast<int>(type)];
  SeriesValue& out = snapshot.series.emplace_back();
  out.key = gs.key;
  out.idle = !gs.touched;
  if (type == MetricType::kCounter) {
    out.value = gs.touched ? gs.value : 0;
    // Snapshot::RateOf derives the rate and holds it finite; the hold is counted here, once.
    if (seconds > 0) ClampFinite(out.value / seconds, &stats.overflows);
  } else if (type == MetricType::kGauge) {
    out.value = gs.value;
  } else if (gs.acc >= 0 && IsSampleType(type)) {
    SampleCell& acc = sample_accs_[gs.acc];
    out.summary = static_cast<int32_t>(snapshot.summaries.size());
    snapshot.summaries.push_back(SummarizeSamples(acc, percentiles_, flush_interval_,
                                                  type == MetricType::kDistribution,
                                                  options_->sketch_accuracy, &stats.overflows));
    acc.Reset();
  } else if (gs.acc >= 0 && type == MetricType::kSet) {
    out.value = set_accs_[gs.acc].Count();
    set_accs_[gs.acc].Reset();
  }
  gs.touched = false;
  gs.acc = -1;
}

void Aggregator::RecordFlushTime(absl::Time mono_now) {
  longest_ttl_ = std::max(longest_ttl_, options_->series_ttl);
  flush_mono_ns_.push_back(absl::ToUnixNanos(mono_now));
  // A flush at least longest_ttl_ ago has expired every series last seen in it (Expired: >=).
  while (flush_mono_ns_.size() > 1 &&
         mono_now - absl::FromUnixNanos(flush_mono_ns_.front()) >= longest_ttl_) {
    flush_mono_ns_.pop_front();
  }
}

std::shared_ptr<const Snapshot> Aggregator::Flush(absl::Time wall_now, absl::Time mono_now) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->sequence = ++sequence_;
  RecordFlushTime(mono_now);
  snapshot->flush_time = wall_now;
  snapshot->flush_unix_seconds = absl::ToUnixSeconds(wall_now);
  snapshot->interval = flush_interval_;
  snapshot->percentiles = percentiles_;
  const uint64_t created_before = series_created_;
  {
    std::lock_guard lock(shards_mu_);
    for (auto& shard : shards_) {
      std::unique_ptr<Interval> interval = shard->TakeInterval();
      if (interval == nullptr) {
        ++snapshot->stats.shards_late;
        continue;
      }
      MergeInterval(*interval, mono_now, *snapshot);
      shard->ReturnInterval(std::move(interval));
      ++snapshot->stats.shards_merged;
    }
  }
  snapshot->stats.series_created = series_created_ - created_before;
  // At most every live series is reported: one exact allocation, not a doubling vector that
  // holds its old and new arrays at once (60 MB at 1M series) and keeps up to twice the room.
  snapshot->series.reserve(live_series_);
  BuildSeries(mono_now, *snapshot);
  ReportTopDroppedNames(snapshot->stats);
  return snapshot;
}

}  // namespace tallyd::aggregator
