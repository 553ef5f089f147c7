#include "aggregator/shard.h"

#include <algorithm>

#include "aggregator/interval.h"
#include "protocol/utf8.h"

namespace tallyd::aggregator {
namespace {

using protocol::MetricType;

// DogStatsD's escaped newline: the two characters '\\' 'n' become one '\n', left to right, as the
// Datadog Agent's strings.Replace does ("\\\\n" is thus '\\' and a newline).
void AssignUnescaped(std::string& out, std::string_view text) {
  out.clear();
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'n') {
      out.push_back('\n');
      ++i;
    } else {
      out.push_back(text[i]);
    }
  }
}

// The parser's hash of the line's raw key; a line built by hand (tests) carries none.
inline uint64_t RawHashOf(const protocol::MetricLine& line) {
  return line.series_hash != 0 ? line.series_hash : HashSeries(line.type, line.name, line.tags);
}

}  // namespace

Shard::Shard(std::shared_ptr<const Options> options, SeriesRegistry* registry)
    : options_(std::move(options)),
      canonicalizer_(options_->global_tags),
      registry_(registry),
      active_(std::make_unique<Interval>()),
      spare_(std::make_unique<Interval>()) {}

Shard::~Shard() = default;

inline __attribute__((always_inline)) void Shard::PrefetchCell(MetricType type,
                                                               uint32_t slot) const {
  const Interval& iv = *active_;
  switch (type) {
    case MetricType::kCounter:
      __builtin_prefetch(&iv.counters.cells[slot], 1);
      break;
    case MetricType::kGauge:
      __builtin_prefetch(&iv.gauges.cells[slot], 1);
      break;
    case MetricType::kSet:
      __builtin_prefetch(&iv.sets.cells[slot], 1);
      break;
    default:
      __builtin_prefetch(&iv.samples.cells[slot], 1);
      break;
  }
}

inline __attribute__((always_inline)) void Shard::Apply(uint32_t series,
                                                        const protocol::MetricLine& line) {
  if (line.timestamp != 0) {
    GenOf(series) = gen_;  // cells record the others' activity (see Rotate)
    AddTimed(series, line);
    return;
  }
  const uint32_t slot = SlotOfSeries(series);
  const Options& options = *options_;
  switch (line.type) {
    case MetricType::kCounter: {
      // value / rate is finite (the parser checks it); the sum is held finite here.
      CounterCell& cell = active_->counters.Touch(slot);
      if (line.value_count == 1) {
        active_->overflows += !AddFinite(cell.sum, line.first_value / line.sample_rate);
      } else {
        protocol::ValueCursor cursor(line);
        for (double v; cursor.Next(&v);) {
          active_->overflows += !AddFinite(cell.sum, v / line.sample_rate);
        }
      }
      break;
    }
    case MetricType::kGauge: {
      GaugeCell& cell = active_->gauges.Touch(slot);
      const bool etsy = options.gauge_mode == GaugeMode::kEtsy;
      auto apply = [&](double v, bool is_signed) {
        if (etsy && is_signed) {
          // A delta; the flush side applies it to the previous value.
          active_->overflows += !AddFinite(cell.value, v);
        } else {
          cell.value = v;
          cell.set_ns = receive_ns_;
        }
      };
      if (line.value_count == 1) {
        apply(line.first_value, line.value_signed);
      } else {
        protocol::ValueCursor cursor(line);
        double v;
        bool is_signed;
        while (cursor.Next(&v, &is_signed)) apply(v, is_signed);
      }
      break;
    }
    case MetricType::kSet: {
      SetCell& cell = active_->sets.Touch(slot);
      if (line.value_count == 1) {
        cell.Add(HashSetValue(line.values), options.exact_set_size);
      } else {
        protocol::ValueCursor cursor(line);
        for (std::string_view raw; cursor.NextRaw(&raw);) {
          cell.Add(HashSetValue(raw), options.exact_set_size);
        }
      }
      break;
    }
    default: {  // timers, histograms, distributions
      SampleCell& cell = active_->samples.Touch(slot);
      const double weight = 1 / line.sample_rate;
      if (line.value_count == 1) {
        cell.Add(line.first_value, weight, options.exact_samples, options.sketch_accuracy);
      } else {
        protocol::ValueCursor cursor(line);
        for (double v; cursor.Next(&v);) {
          cell.Add(v, weight, options.exact_samples, options.sketch_accuracy);
        }
      }
      break;
    }
  }
}

bool Shard::Add(const protocol::MetricLine& line) { return AddHashed(line, RawHashOf(line)); }

bool Shard::AddHashed(const protocol::MetricLine& line, uint64_t hash) {
  // The key names the cell: start loading it while the key bytes are compared.
  const SeriesKey* key =
      table_.Find(hash, line.type, line.name, line.tags,
                  [&](const SeriesKey& k) { PrefetchCell(line.type, k.cell()); });
  if (key == nullptr) {
    Refusal why;
    key = Resolve(line, hash, &why);
    if (key == nullptr) return Refuse(line, why);
  }
  Apply(key->series(), line);
  return true;
}

bool Shard::Refuse(const protocol::MetricLine& line, Refusal why) {
  Interval& iv = *active_;
  switch (why) {
    case Refusal::kInvalidUtf8:
      return false;
    case Refusal::kMaxSeries:
      ++iv.series_dropped;
      break;
    case Refusal::kMappingDrop:
      ++iv.mapping_dropped;
      break;
    case Refusal::kPerMetric:
      ++iv.series_dropped_per_metric;
      // Allocates once per refused name per interval; only names at their limit get here.
      ++CountOf(iv.dropped_by_name, line.name);
      break;
  }
  return true;
}

// Group prefetching: each stage issues the loads of the next one for the whole group before any
// of them is used. The stages only read the table; everything that writes (Apply, and AddHashed
// for lines not found, which may create series) runs afterwards in line order, so the result is
// Add() per line: a key found stays valid and correct while later lines create series (keys
// never move and are unique), and a line not found is looked up again by AddHashed, which sees
// any series an earlier line of the group created.
size_t Shard::AddBatch(const protocol::MetricLine* lines, size_t n,
                       absl::FunctionRef<void(const protocol::MetricLine&)> on_invalid_utf8) {
  size_t invalid = 0;
  if (table_.size() < kBatchMinKeys) {
    // The table and cells fit in the caches: the extra passes would cost more than they save.
    for (size_t i = 0; i < n; ++i) {
      if (!Add(lines[i])) {
        ++invalid;
        on_invalid_utf8(lines[i]);
      }
    }
    return invalid;
  }
  constexpr size_t kGroup = 64;
  uint64_t hashes[kGroup];
  const SeriesKey* keys[kGroup];
  for (size_t begin = 0; begin < n; begin += kGroup) {
    const protocol::MetricLine* g = lines + begin;
    const size_t m = std::min(kGroup, n - begin);
    for (size_t i = 0; i < m; ++i) {
      hashes[i] = RawHashOf(g[i]);
      table_.PrefetchSlot(hashes[i]);
    }
    for (size_t i = 0; i < m; ++i) {
      const SeriesKey* k = table_.FirstCandidate(hashes[i]);
      keys[i] = k;
      if (k != nullptr) {
        // Header and key bytes: usually two cache lines.
        const char* begin_bytes = reinterpret_cast<const char*>(k);
        __builtin_prefetch(begin_bytes);
        __builtin_prefetch(begin_bytes + sizeof(SeriesKey) + g[i].name.size() + g[i].tags.size() -
                           1);
      }
    }
    for (size_t i = 0; i < m; ++i) {
      const SeriesKey* k = keys[i];
      if (k == nullptr) continue;
      if (!SeriesTable::Matches(*k, g[i].type, g[i].name, g[i].tags)) {
        k = table_.Find(hashes[i], g[i].type, g[i].name, g[i].tags);  // a hash-bits collision
        keys[i] = k;
        if (k == nullptr) continue;
      }
      PrefetchCell(g[i].type, k->cell());
    }
    for (size_t i = 0; i < m; ++i) {
      if (keys[i] != nullptr) {
        Apply(keys[i]->series(), g[i]);
      } else if (!AddHashed(g[i], hashes[i])) {
        ++invalid;
        on_invalid_utf8(g[i]);
      }
    }
  }
  return invalid;
}

void Shard::AddTimed(uint32_t series, const protocol::MetricLine& line) {
  Interval& iv = *active_;
  auto push = [&](double value) {
    if (iv.points.size() >= options_->max_timestamped_points) {
      ++iv.points_dropped;
      return;
    }
    iv.points.push_back({series, value, line.timestamp});
  };
  if (line.type == MetricType::kSet) {
    for (uint32_t i = 0; i < line.value_count; ++i) push(1);
    return;
  }
  // value / rate, exactly as the parser checked it finite.
  const double rate = line.type == MetricType::kCounter ? line.sample_rate : 1;
  if (line.value_count == 1) {
    push(line.first_value / rate);
    return;
  }
  protocol::ValueCursor cursor(line);
  for (double v; cursor.Next(&v);) push(v / rate);
}

// Slow path, once per new raw spelling: map (when a mapping file is loaded), canonicalize, find
// or create the series, and remember the raw spelling as an alias so the next identical line
// takes the fast path.
const SeriesKey* Shard::Resolve(const protocol::MetricLine& line, uint64_t raw_hash, Refusal* why) {
  // A series' bytes reach every backend: they must be UTF-8 (SPEC 2). Checked once per raw
  // spelling, as a table key never holds anything else; a bad line is checked each time it comes.
  if (!protocol::IsValidUtf8(line.name) || !protocol::IsValidUtf8(line.tags)) {
    *why = Refusal::kInvalidUtf8;
    return nullptr;
  }
  std::string_view name = line.name;
  std::string_view tags = line.tags;
  std::shared_ptr<const mapping::SeriesOptions> series_options;
  if (const mapping::Mapping* mapping = options_->mapping.get(); mapping != nullptr) {
    if (!MapLine(*mapping, line, why, &name, &tags, &series_options)) return nullptr;
  }
  const std::string_view canonical = canonicalizer_.Canonicalize(tags);
  const bool raw_is_key = name == line.name && canonical == line.tags;
  uint64_t hash = raw_hash;
  const SeriesKey* key = nullptr;
  if (!raw_is_key) {
    hash = HashSeries(line.type, name, canonical);
    key = table_.Find(hash, line.type, name, canonical);
  }
  if (key == nullptr) {
    key = Create(line.type, name, canonical, hash, why, std::move(series_options));
    if (key == nullptr) return nullptr;
  }
  // Aliases are bounded too: past the bound an unusual spelling just keeps taking this path.
  if (!raw_is_key && table_.size() < 2 * options_->max_series) {
    table_.Insert(raw_hash, 0, line.type, line.name, line.tags, key->series());
  }
  return key;
}

bool Shard::MapLine(const mapping::Mapping& mapping, const protocol::MetricLine& line, Refusal* why,
                    std::string_view* name, std::string_view* tags,
                    std::shared_ptr<const mapping::SeriesOptions>* series_options) {
  const uint8_t type_bit = static_cast<uint8_t>(1u << static_cast<int>(line.type));
  if (auto it = dropped_names_.find(line.name);
      it != dropped_names_.end() && (it->second & type_bit) != 0) {
    *why = Refusal::kMappingDrop;
    return false;
  }
  mapping.Match(line.name, line.type, &match_);
  // statsd_exporter drops a line whose mapped name is empty too (counted as empty_metric_name).
  if (match_.action == mapping::Action::kDrop ||
      (match_.action == mapping::Action::kMap && match_.name.empty())) {
    if (dropped_names_.size() < options_->max_series)
      CountOf(dropped_names_, line.name) |= type_bit;
    *why = Refusal::kMappingDrop;
    return false;
  }
  *series_options = std::move(match_.options);
  if (match_.action == mapping::Action::kNoMatch) return true;
  *name = match_.name;
  // The line's own tags, less those a mapped label replaces (a mapped label wins unless
  // honor_labels), then the mapped labels as `name:value` tags. A ',' in a label value would
  // split the tag list: it becomes '_'.
  const bool honor = (*series_options)->honor_labels;
  const auto& labels = match_.labels;  // sorted by name
  label_taken_.assign(labels.size(), false);
  mapped_tags_.clear();
  protocol::ForEachTag(line.tags, [&](std::string_view tag) {
    const TagView t = SplitTag(tag);
    auto it = std::lower_bound(labels.begin(), labels.end(), t.key,
                               [](const auto& label, std::string_view key) {
                                 return std::string_view(label.first) < key;
                               });
    if (it != labels.end() && it->first == t.key) {
      if (!honor) return;
      label_taken_[it - labels.begin()] = true;
    }
    if (!mapped_tags_.empty()) mapped_tags_.push_back(',');
    mapped_tags_.append(tag);
  });
  for (size_t i = 0; i < labels.size(); ++i) {
    if (label_taken_[i]) continue;
    if (!mapped_tags_.empty()) mapped_tags_.push_back(',');
    mapped_tags_.append(labels[i].first);
    mapped_tags_.push_back(':');
    for (char c : labels[i].second) mapped_tags_.push_back(c == ',' ? '_' : c);
  }
  *tags = mapped_tags_;
  return true;
}

// The series from the process-wide registry (created there when no shard has it), then cached
// in this shard's table.
const SeriesKey* Shard::Create(MetricType type, std::string_view name, std::string_view tags,
                               uint64_t hash, Refusal* why,
                               std::shared_ptr<const mapping::SeriesOptions> series_options) {
  SeriesRegistry::Refusal refused;
  SeriesKeyRef key =
      registry_->Acquire(type, name, tags, hash, std::move(series_options), &refused);
  if (key == nullptr) {
    *why =
        refused == SeriesRegistry::Refusal::kPerMetric ? Refusal::kPerMetric : Refusal::kMaxSeries;
    return nullptr;
  }
  const uint32_t series = key->series();
  std::vector<uint32_t>& gens = series_gen_[PoolOfSeries(series)];
  GrowTo(gens, SlotOfSeries(series) + 1, options_->max_series, kFree);
  gens[SlotOfSeries(series)] = gen_;
  ++live_series_;
  SizePools(*active_);
  // The rule that created the series sets its ttl, whichever shard met it first.
  if (const mapping::SeriesOptions* o = key->mapping_options();
      o != nullptr && o->ttl > absl::ZeroDuration()) {
    series_ttl_[series] = o->ttl;
    longest_ttl_ = std::max(longest_ttl_, o->ttl);
  }
  table_.Insert(key);
  const SeriesKey* created = key.get();
  active_->new_series.push_back({std::move(key)});
  return created;
}

void Shard::SizePools(Interval& iv) const {
  const size_t limit = options_->max_series;
  iv.counters.EnsureSize(series_gen_[0].size(), limit);
  iv.gauges.EnsureSize(series_gen_[1].size(), limit);
  iv.samples.EnsureSize(series_gen_[2].size(), limit);
  iv.sets.EnsureSize(series_gen_[3].size(), limit);
}

void Shard::AddEvent(const protocol::Event& event) {
  Interval& iv = *active_;
  if (iv.events.size() >= options_->max_events) {
    ++iv.events_dropped;
    return;
  }
  EventRecord& r = iv.events.emplace_back();
  r.title = event.title;
  AssignUnescaped(r.text, event.text);
  r.timestamp = event.timestamp;
  r.hostname = event.hostname;
  r.aggregation_key = event.aggregation_key;
  r.priority = event.priority;
  r.source_type = event.source_type;
  r.alert_type = event.alert_type;
  r.tags = canonicalizer_.Canonicalize(event.tags);
}

void Shard::AddServiceCheck(const protocol::ServiceCheck& check) {
  Interval& iv = *active_;
  if (iv.service_checks.size() >= options_->max_events) {
    ++iv.service_checks_dropped;
    return;
  }
  ServiceCheckRecord& r = iv.service_checks.emplace_back();
  r.name = check.name;
  r.status = check.status;
  r.timestamp = check.timestamp;
  r.hostname = check.hostname;
  r.tags = canonicalizer_.Canonicalize(check.tags);
  AssignUnescaped(r.message, check.message);
}

void Shard::RequestRotation(absl::Time mono_now) {
  requested_at_ns_.store(absl::ToUnixNanos(mono_now), std::memory_order_relaxed);
  rotate_requested_.store(true, std::memory_order_release);
}

bool Shard::RotateIfRequested() {
  if (!rotate_requested_.load(std::memory_order_acquire)) return false;
  return Rotate(absl::FromUnixNanos(requested_at_ns_.load(std::memory_order_relaxed)));
}

bool Shard::Rotate(absl::Time mono_now) {
  std::unique_ptr<Interval> next;
  std::shared_ptr<const Options> new_options;
  {
    std::lock_guard lock(mu_);
    if (ready_ != nullptr || spare_ == nullptr) return false;
    next = std::move(spare_);
    new_options = std::move(pending_options_);
  }
  std::unique_ptr<Interval> closed = std::move(active_);
  MarkActive(*closed);
  if (new_options != nullptr) ApplyOptions(std::move(new_options), *closed);
  EvictIdle(mono_now, *closed);
  ++gen_;
  next->ResetLists();
  SizePools(*next);
  active_ = std::move(next);
  {
    std::lock_guard lock(mu_);
    ready_ = std::move(closed);
    rotate_requested_.store(false, std::memory_order_release);
  }
  published_.notify_all();
  return true;
}

// Add() does not write the series on the hot path; its last sample generation is the interval's,
// read here from the cells the closed interval touched.
void Shard::MarkActive(const Interval& closed) {
  auto mark = [this](const auto& cells, int pool) {
    std::vector<uint32_t>& gens = series_gen_[pool];
    cells.ForEachTouched([&](uint32_t slot) { gens[slot] = gen_; });
  };
  mark(closed.counters, 0);
  mark(closed.gauges, 1);
  mark(closed.samples, 2);
  mark(closed.sets, 3);
}

void Shard::Evict(uint32_t series, Interval& closed) {
  GenOf(series) = kFree;
  if (!series_ttl_.empty()) series_ttl_.erase(series);
  --live_series_;
  closed.evicted.push_back(series);
}

// The canonical key and the raw aliases of an evicted series go together.
void Shard::EraseEvicted() {
  table_.EraseIf([this](const SeriesKey& key) { return GenOf(key.series()) == kFree; });
}

// Forgets series without samples for series_ttl (or their mapping rule's ttl), so a churning tag
// set cannot fill the table. Runs on the worker at rotation: one pass over the series when a
// horizon moved.
void Shard::EvictIdle(absl::Time mono_now, Interval& closed) {
  gen_closed_at_.emplace_back(gen_, mono_now);
  // Generations closed longer ago than the longest ttl in use are past every horizon.
  const absl::Duration keep = std::max(options_->series_ttl, longest_ttl_);
  while (!gen_closed_at_.empty() && gen_closed_at_.front().second <= mono_now - keep) {
    floor_gen_ = gen_closed_at_.front().first;
    gen_closed_at_.pop_front();
  }
  // The newest generation closed at least `ttl` ago: a series last active in it or before is idle.
  auto horizon_of = [&](absl::Duration ttl) {
    uint32_t h = floor_gen_;
    for (const auto& [gen, closed_at] : gen_closed_at_) {
      if (closed_at > mono_now - ttl) break;
      h = gen;
    }
    return h;
  };
  const uint32_t horizon = horizon_of(options_->series_ttl);
  if (horizon == evicted_up_to_ && series_ttl_.empty()) return;
  evicted_up_to_ = horizon;
  absl::flat_hash_map<int64_t, uint32_t> horizons;  // per distinct mapping ttl, this rotation
  size_t before = closed.evicted.size();
  for (int pool = 0; pool < kCellPools; ++pool) {
    for (uint32_t slot = 0; slot < series_gen_[pool].size(); ++slot) {
      const uint32_t gen = series_gen_[pool][slot];
      if (gen == kFree) continue;
      const uint32_t series = SeriesOf(pool, slot);
      uint32_t h = horizon;
      if (!series_ttl_.empty()) {
        if (auto it = series_ttl_.find(series); it != series_ttl_.end()) {
          auto [at, inserted] = horizons.try_emplace(absl::ToInt64Nanoseconds(it->second), 0);
          if (inserted) at->second = horizon_of(it->second);
          h = at->second;
        }
      }
      if (gen <= h) Evict(series, closed);
    }
  }
  if (closed.evicted.size() != before) EraseEvicted();
}

// A change of global tags changes every canonical key: start over with an empty table (the flush
// side lets the old series expire). Other options apply from the next sample on.
void Shard::ApplyOptions(std::shared_ptr<const Options> options, Interval& closed) {
  const bool retag = options->global_tags != options_->global_tags;
  // Series keep the identity their rules gave them; only what is dropped is asked again.
  if (options->mapping != options_->mapping) dropped_names_.clear();
  options_ = std::move(options);
  if (!retag) return;
  canonicalizer_ = TagCanonicalizer(options_->global_tags);
  for (int pool = 0; pool < kCellPools; ++pool) {
    for (uint32_t slot = 0; slot < series_gen_[pool].size(); ++slot) {
      if (series_gen_[pool][slot] != kFree) Evict(SeriesOf(pool, slot), closed);
    }
  }
  EraseEvicted();
}

std::unique_ptr<Interval> Shard::TakeInterval() {
  std::lock_guard lock(mu_);
  return std::move(ready_);
}

void Shard::ReturnInterval(std::unique_ptr<Interval> interval) {
  std::lock_guard lock(mu_);
  spare_ = std::move(interval);
}

bool Shard::AwaitInterval(absl::Time deadline) {
  std::unique_lock lock(mu_);
  return published_.wait_until(lock, absl::ToChronoTime(deadline),
                               [this] { return ready_ != nullptr; });
}

void Shard::SetOptions(std::shared_ptr<const Options> options) {
  std::lock_guard lock(mu_);
  pending_options_ = std::move(options);
}

}  // namespace tallyd::aggregator
