// libFuzzer target for protocol/parser.h: one input is one datagram. Every line is parsed, every
// value and tag iterated and every field read, so ASan/UBSan see each byte the parser hands out.
// Lines are parsed as the worker parses them (a reused ParsedLine and a LineScratch), with every
// tag style on, with none of the name styles, and with DogStatsD tags off, so the InfluxDB,
// Librato and SignalFX paths and their switches are reached (seeds: corpus/parser/tags_*;
// dictionary: parser.dict).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "protocol/parser.h"
#include "protocol/parser_detail.h"
#include "protocol/utf8.h"

namespace {

using tallyd::protocol::Event;
using tallyd::protocol::ForEachLine;
using tallyd::protocol::ForEachTag;
using tallyd::protocol::IsValidUtf8;
using tallyd::protocol::LineKind;
using tallyd::protocol::LineScratch;
using tallyd::protocol::MetricLine;
using tallyd::protocol::MetricType;
using tallyd::protocol::ParsedLine;
using tallyd::protocol::ParseLine;
using tallyd::protocol::ParserOptions;
using tallyd::protocol::RejectReasonName;
using tallyd::protocol::ServiceCheck;
using tallyd::protocol::TagFormat;
using tallyd::protocol::TagFormatBit;
using tallyd::protocol::ValueCursor;

// Reads every byte of a view the parser returned: out-of-bounds views trip ASan here.
uint64_t Touch(std::string_view s) {
  uint64_t h = s.size();
  for (char c : s) h = h * 31 + static_cast<unsigned char>(c);
  return h;
}

bool Within(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// What the parser wrote into the scratch for the line being checked ("" when nothing).
std::string_view g_rewritten;

// The view must lie inside the line it came from (or, for a name and tags the parser rewrote,
// inside what it wrote for that line).
void CheckInside(std::string_view part, std::string_view line) {
  if (part.empty()) return;
  if (!Within(part, line) && !Within(part, g_rewritten)) abort();
}

uint64_t CheckTags(std::string_view tags, std::string_view line, uint32_t expected_count) {
  CheckInside(tags, line);
  uint64_t h = 0;
  uint32_t count = 0;
  ForEachTag(tags, [&](std::string_view tag) {
    if (tag.empty()) abort();  // the parser promises no empty tag
    h += Touch(tag);
    ++count;
  });
  if (expected_count != UINT32_MAX && count != expected_count) abort();
  return h;
}

uint64_t CheckMetric(const MetricLine& m, std::string_view line, const ParserOptions& options) {
  if (m.name.empty() || m.value_count == 0) abort();
  if (!(m.sample_rate > 0 && m.sample_rate <= 1)) abort();
  if (!std::isfinite(1 / m.sample_rate)) abort();  // every sample's weight is finite
  if (m.tag_count > options.max_tags) abort();
  for (std::string_view part :
       {m.name, m.values, m.tags, m.container_id, m.external_data, m.cardinality}) {
    CheckInside(part, line);
  }
  uint64_t h = Touch(m.name) + Touch(m.values) + Touch(m.container_id) + Touch(m.external_data) +
               Touch(m.cardinality) + static_cast<uint64_t>(m.timestamp) + m.unknown_fields +
               m.value_signed + static_cast<uint64_t>(m.type);
  h += CheckTags(m.tags, line, m.tags.empty() ? 0 : m.tag_count);

  ValueCursor raw_cursor(m);
  std::string_view raw;
  uint32_t raw_count = 0;
  while (raw_cursor.NextRaw(&raw)) {
    CheckInside(raw, line);
    h += Touch(raw);
    ++raw_count;
  }
  if (raw_count != m.value_count) abort();

  ValueCursor cursor(m);
  double v;
  bool is_signed;
  uint32_t count = 0;
  while (cursor.Next(&v, &is_signed)) {
    if (!std::isfinite(v)) abort();
    if (m.type == MetricType::kCounter && !std::isfinite(v / m.sample_rate)) abort();
    if (count == 0 && (v != m.first_value || is_signed != m.value_signed)) abort();
    h += static_cast<uint64_t>(v != 0) + is_signed;
    ++count;
  }
  if (count != (m.type == MetricType::kSet ? 0 : m.value_count)) abort();
  return h;
}

uint64_t CheckEvent(const Event& e, std::string_view line) {
  if (e.title.empty()) abort();
  if (!IsValidUtf8(line)) abort();  // an accepted event is UTF-8 throughout
  uint64_t h = 0;
  for (std::string_view part :
       {e.title, e.text, e.hostname, e.aggregation_key, e.priority, e.source_type, e.alert_type}) {
    CheckInside(part, line);
    h += Touch(part);
  }
  return h + CheckTags(e.tags, line, UINT32_MAX) + static_cast<uint64_t>(e.timestamp) +
         e.unknown_fields;
}

uint64_t CheckServiceCheck(const ServiceCheck& sc, std::string_view line) {
  if (sc.name.empty() || sc.status < 0 || sc.status > 3) abort();
  if (!IsValidUtf8(line)) abort();
  uint64_t h =
      static_cast<uint64_t>(sc.status) + static_cast<uint64_t>(sc.timestamp) + sc.unknown_fields;
  for (std::string_view part : {sc.name, sc.hostname, sc.message}) {
    CheckInside(part, line);
    h += Touch(part);
  }
  return h + CheckTags(sc.tags, line, UINT32_MAX);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view datagram(reinterpret_cast<const char*>(data), size);
  // Small limits as well as the defaults, so the limit paths are reached by short inputs.
  ParserOptions small;
  small.max_line_length = 64;
  small.max_tags = 3;
  ParserOptions dogstatsd_only;
  dogstatsd_only.tag_formats = TagFormatBit(TagFormat::kDogStatsD);
  ParserOptions no_dogstatsd;
  no_dogstatsd.tag_formats &= ~TagFormatBit(TagFormat::kDogStatsD);
  static LineScratch scratch(65535 + 2);
  ParsedLine p;
  volatile uint64_t sink = 0;
  ForEachLine(datagram, [&](std::string_view line) {
    if (line.empty() || line.find('\n') != std::string_view::npos) abort();
    for (const ParserOptions& options : {ParserOptions{}, small, dogstatsd_only, no_dogstatsd}) {
      scratch.Clear();
      const size_t before = scratch.available();
      ParseLine(line, options, &p, &scratch);
      const size_t used = before - scratch.available();
      if (used > line.size() + 2) abort();  // the bound the worker relies on
      g_rewritten = std::string_view(scratch.Take(0) - used, used);
      if (used != 0 && options.tag_formats == dogstatsd_only.tag_formats) abort();
      // The common-shape fast path decides nothing on its own: what it accepts, the general
      // parser accepts the same way.
      MetricLine common;
      if (tallyd::protocol::detail::ParseCommonMetricLine(line, options, &common)) {
        const ParsedLine general = tallyd::protocol::detail::ParseLineGeneral(line, options);
        if (general.kind != LineKind::kMetric || common.name != general.metric.name ||
            common.values != general.metric.values || common.tags != general.metric.tags ||
            common.type != general.metric.type ||
            common.first_value != general.metric.first_value ||
            std::signbit(common.first_value) != std::signbit(general.metric.first_value) ||
            common.sample_rate != general.metric.sample_rate ||
            common.value_signed != general.metric.value_signed ||
            common.tag_count != general.metric.tag_count ||
            common.unknown_fields != general.metric.unknown_fields ||
            common.series_hash != general.metric.series_hash) {
          abort();
        }
      }
      switch (p.kind) {
        case LineKind::kMetric:
          sink = sink + CheckMetric(p.metric, line, options);
          break;
        case LineKind::kEvent:
          sink = sink + CheckEvent(p.event, line);
          break;
        case LineKind::kServiceCheck:
          sink = sink + CheckServiceCheck(p.service_check, line);
          break;
        case LineKind::kRejected:
          if (RejectReasonName(p.reason) == "unknown") abort();
          break;
      }
    }
  });
  return 0;
}
