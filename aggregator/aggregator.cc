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
  auto link = std::make_unique<ShardLink>();
  std::lock_guard lock(shards_mu_);
  link->shard = std::make_unique<Shard>(options_, static_cast<uint32_t>(links_.size()));
  Shard* shard = link->shard.get();
  links_.push_back(std::move(link));
  return shard;
}

void Aggregator::UpdateOptions(Options options) {
  const bool counted = options_ != nullptr && options_->max_series_per_metric != 0;
  options_ = std::make_shared<const Options>(std::move(options));
  if ((options_->max_series_per_metric != 0) != counted) CountSeriesPerName();
  percentiles_.clear();
  for (double p : options_->percentiles) {
    if (p != 0 && p >= -100 && p <= 100) percentiles_.push_back(MakePercentileSpec(p));
  }
  std::lock_guard lock(shards_mu_);
  for (auto& link : links_) link->shard->SetOptions(options_);
}

void Aggregator::CountSeriesPerName() {
  live_per_name_.clear();
  if (options_->max_series_per_metric == 0) return;
  for (const GlobalSeries& gs : series_) {
    if (gs.key != nullptr) ++CountOf(live_per_name_, gs.key->name());
  }
}

void Aggregator::RequestRotation(absl::Time mono_now) {
  std::lock_guard lock(shards_mu_);
  for (auto& link : links_) link->shard->RequestRotation(mono_now);
}

bool Aggregator::AwaitRotation(absl::Time deadline) {
  std::lock_guard lock(shards_mu_);
  bool all = true;
  for (auto& link : links_) all = link->shard->AwaitInterval(deadline) && all;
  return all;
}

uint32_t Aggregator::FindOrAdopt(const SeriesKeyRef& key) {
  if (uint32_t g = index_.Find(*key); g != index_.kAbsent) return g;
  if (live_series_ >= options_->max_series) return kRejected;
  if (!AdmitSeriesOfName(live_per_name_, key->name(), options_->max_series_per_metric)) {
    return kRejectedPerMetric;
  }
  const MetricType type = key->type();
  uint32_t global;
  if (!free_.empty()) {
    global = free_.back();
    free_.pop_back();
  } else {
    global = static_cast<uint32_t>(series_.size());
    series_.emplace_back();
  }
  series_[global] = GlobalSeries();
  series_[global].key = key;
  series_[global].type = type;
  index_.Insert(global);
  ++live_series_;
  ++series_created_;
  return global;
}

// The global series of a shard-local one, retrying a series max_series refused before.
uint32_t Aggregator::Map(ShardLink& link, uint32_t local) {
  if (local >= link.local_to_global.size()) return kRejected;  // not announced: cannot happen
  uint32_t& global = link.local_to_global[local];
  if (global == kUnmapped) return kRejected;  // evicted: cannot have samples
  if (global == kRejected) {
    auto it = link.refused.find(local);
    if (it == link.refused.end()) return kRejected;
    uint32_t g = FindOrAdopt(it->second.key);
    if (Refused(g)) return g;
    ++series_[g].refs;
    global = g;
    link.refused.erase(it);
  }
  return global;
}

Aggregator::GlobalSeries& Aggregator::Touch(uint32_t global, absl::Time mono_now) {
  GlobalSeries& gs = series_[global];
  if (!gs.touched) {
    gs.touched = true;
    // An expired gauge that a shard still referenced is a new gauge again: deltas set it.
    if (gs.last_sample_ns != kNever && Expired(gs, mono_now)) {
      gs.has_value = false;
    }
    if (gs.type == MetricType::kCounter) gs.value = 0;
  }
  return gs;
}

void Aggregator::MergeInterval(ShardLink& link, Interval& iv, absl::Time mono_now,
                               Snapshot& snapshot) {
  const Options& options = *options_;
  FlushStats& stats = snapshot.stats;
  for (NewSeries& def : iv.new_series) {
    if (def.series >= link.local_to_global.size()) {
      link.local_to_global.resize(def.series + 1, kUnmapped);
    }
    uint32_t g = FindOrAdopt(def.key);
    if (Refused(g)) {
      link.local_to_global[def.series] = kRejected;
      link.refused.insert_or_assign(def.series, std::move(def));
    } else {
      link.local_to_global[def.series] = g;
      ++series_[g].refs;
    }
  }
  // The global series a shard-local one merges into, or null (counted) when a cap refused it.
  auto touch = [&](uint32_t local) -> GlobalSeries* {
    uint32_t g = Map(link, local);
    if (g == kRejected) {
      ++stats.series_dropped;
      return nullptr;
    }
    if (g == kRejectedPerMetric) {
      ++stats.series_dropped_per_metric;
      ++CountOf(dropped_by_name_, link.refused.at(local).key->name());
      return nullptr;
    }
    return &Touch(g, mono_now);
  };
  // This flush's accumulator of a sampled series or set, taken from the recycled pool.
  auto accumulator = [](GlobalSeries & gs, auto& pool, size_t& used) -> auto& {
    if (gs.acc < 0) {
      if (used == pool.size()) pool.emplace_back();
      gs.acc = static_cast<int32_t>(used++);
    }
    return pool[gs.acc];
  };
  iv.counters.Drain([&](const CellTouch& t, CounterCell& cell) {
    if (GlobalSeries* gs = touch(t.series)) stats.overflows += !AddFinite(gs->value, cell.sum);
  });
  iv.gauges.Drain([&](const CellTouch& t, GaugeCell& cell) {
    GlobalSeries* gs = touch(t.series);
    if (gs == nullptr) return;
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
  iv.samples.Drain([&](const CellTouch& t, SampleCell& cell) {
    GlobalSeries* gs = touch(t.series);
    if (gs == nullptr) return;
    SampleCell& acc = accumulator(*gs, sample_accs_, sample_accs_used_);
    if (acc.n == 0) {
      std::swap(acc, cell);  // no copy for the common single-shard case; cell gets a clean one
    } else {
      acc.MergeFrom(cell, options.exact_samples, options.sketch_accuracy);
    }
  });
  iv.sets.Drain([&](const CellTouch& t, SetCell& cell) {
    GlobalSeries* gs = touch(t.series);
    if (gs == nullptr) return;
    SetCell& acc = accumulator(*gs, set_accs_, set_accs_used_);
    if (acc.exact.empty() && !acc.sketched) {
      std::swap(acc, cell);
    } else {
      acc.MergeFrom(cell, options.exact_set_size);
    }
  });
  for (const ShardTimedPoint& p : iv.points) {
    uint32_t g = Map(link, p.series);
    if (Refused(g)) {
      ++stats.timestamped_points_dropped;
      continue;
    }
    snapshot.timestamped_points.push_back({series_[g].key, p.value, p.timestamp});
  }
  for (EventRecord& e : iv.events) snapshot.events.push_back(std::move(e));
  for (ServiceCheckRecord& c : iv.service_checks) snapshot.service_checks.push_back(std::move(c));
  for (uint32_t local : iv.evicted) {
    if (local >= link.local_to_global.size()) continue;
    uint32_t& g = link.local_to_global[local];
    if (g != kRejected && g != kUnmapped) --series_[g].refs;
    g = kUnmapped;
    link.refused.erase(local);
  }
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

void Aggregator::Forget(uint32_t global) {
  GlobalSeries& gs = series_[global];
  ReleaseSeriesOfName(live_per_name_, gs.key->name());
  index_.Erase(global);
  gs = GlobalSeries();
  free_.push_back(global);
  --live_series_;
}

void Aggregator::BuildSeries(absl::Time mono_now, Snapshot& snapshot) {
  const double seconds = absl::ToDoubleSeconds(flush_interval_);
  FlushStats& stats = snapshot.stats;
  for (uint32_t g = 0; g < series_.size(); ++g) {
    GlobalSeries& gs = series_[g];
    if (gs.key == nullptr) continue;
    const MetricType type = gs.type;
    if (gs.touched) {
      gs.last_sample_ns = absl::ToUnixNanos(mono_now);
    } else if (gs.last_sample_ns == kNever || Expired(gs, mono_now)) {
      // Expired, or only ever sent timestamped points: nothing to report. Keep the record while
      // a shard still maps to it, so that shard's next samples land here.
      if (gs.refs == 0) {
        if (gs.last_sample_ns != kNever) ++stats.series_expired;
        Forget(g);
      } else {
        ++stats.series_active[static_cast<int>(type)];
      }
      continue;
    }
    ++stats.series_active[static_cast<int>(type)];
    SeriesValue& out = snapshot.series.emplace_back();
    out.key = gs.key;
    out.idle = !gs.touched;
    if (type == MetricType::kCounter) {
      out.value = gs.touched ? gs.value : 0;
      out.rate = seconds > 0 ? ClampFinite(out.value / seconds, &stats.overflows) : 0;
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
  sample_accs_used_ = 0;
  set_accs_used_ = 0;
  gauge_merges_used_ = 0;
}

std::shared_ptr<const Snapshot> Aggregator::Flush(absl::Time wall_now, absl::Time mono_now) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->sequence = ++sequence_;
  snapshot->flush_time = wall_now;
  snapshot->flush_unix_seconds = absl::ToUnixSeconds(wall_now);
  snapshot->interval = flush_interval_;
  snapshot->percentiles = percentiles_;
  const uint64_t created_before = series_created_;
  {
    std::lock_guard lock(shards_mu_);
    for (auto& link : links_) {
      std::unique_ptr<Interval> interval = link->shard->TakeInterval();
      if (interval == nullptr) {
        ++snapshot->stats.shards_late;
        continue;
      }
      MergeInterval(*link, *interval, mono_now, *snapshot);
      link->shard->ReturnInterval(std::move(interval));
      ++snapshot->stats.shards_merged;
    }
  }
  snapshot->stats.series_created = series_created_ - created_before;
  BuildSeries(mono_now, *snapshot);
  ReportTopDroppedNames(snapshot->stats);
  return snapshot;
}

}  // namespace tallyd::aggregator
