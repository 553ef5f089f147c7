#include "backends/prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace tallyd::backends {
namespace {

// As prometheus-cpp: "Nan", "+Inf", "-Inf", else the shortest of %.16g (its ostream precision
// is max_digits10 - 1).
void AppendDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("Nan");
  } else if (std::isinf(value)) {
    out->append(value < 0 ? "-Inf" : "+Inf");
  } else {
    char buffer[32];
    auto [end, ec] =
        std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general, 16);
    out->append(buffer, end);
  }
}

void AppendUint(uint64_t value, std::string* out) {
  char buffer[24];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, end);
}

void AppendEscaped(std::string_view value, std::string* out) {
  for (char c : value) {
    switch (c) {
      case '\n':
        out->append("\\n");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      default:
        out->push_back(c);
    }
  }
}

}  // namespace

void PrometheusTextWriter::Family(const PrometheusFamilyView& family) {
  name_.assign(family.name);
  type_ = family.type;
  if (!family.help.empty()) {
    out_->append("# HELP ").append(family.name).append(" ");
    // A mapping rule's help is the user's text: the format reads `\` as an escape there.
    for (char c : family.help) {
      if (c == '\\') {
        out_->append("\\\\");
      } else {
        out_->push_back(c);
      }
    }
    out_->append("\n");
  }
  out_->append("# TYPE ")
      .append(family.name)
      .append(" ")
      .append(PrometheusTypeName(family.type))
      .append("\n");
}

void PrometheusTextWriter::Head(const PrometheusSeriesView& series, std::string_view suffix,
                                std::string_view extra_label, std::string_view extra_value) {
  out_->append(name_).append(suffix);
  if (!series.labels.empty() || !extra_label.empty()) {
    out_->push_back('{');
    const char* separator = "";
    for (const PrometheusLabel& label : series.labels) {
      out_->append(separator).append(label.name).append("=\"");
      AppendEscaped(label.value, out_);
      out_->push_back('"');
      separator = ",";
    }
    if (!extra_label.empty()) {
      out_->append(separator).append(extra_label).append("=\"").append(extra_value).append("\"");
    }
    out_->push_back('}');
  }
  out_->push_back(' ');
}

const std::vector<std::string>& PrometheusTextWriter::LevelTexts(std::span<const double> levels) {
  if (!std::equal(levels.begin(), levels.end(), levels_.begin(), levels_.end())) {
    levels_.assign(levels.begin(), levels.end());
    level_texts_.resize(levels.size());
    for (size_t i = 0; i < levels.size(); ++i) {
      level_texts_[i].clear();
      AppendDouble(levels[i], &level_texts_[i]);
    }
  }
  return level_texts_;
}

// A summary's and a histogram's `_count` and `_sum` lines.
void PrometheusTextWriter::CountAndSum(const PrometheusSeriesView& series) {
  Head(series, "_count");
  AppendUint(series.count, out_);
  out_->push_back('\n');
  Head(series, "_sum");
  AppendDouble(series.sum, out_);
  out_->push_back('\n');
}

void PrometheusTextWriter::Series(const PrometheusSeriesView& series) {
  switch (type_) {
    case PrometheusType::kCounter:
    case PrometheusType::kGauge:
      Head(series, "");
      AppendDouble(series.value, out_);
      out_->push_back('\n');
      return;
    case PrometheusType::kSummary: {
      CountAndSum(series);
      const std::vector<std::string>& levels = LevelTexts(series.quantile_levels);
      for (size_t i = 0; i < series.quantile_values.size(); ++i) {
        Head(series, "", "quantile", levels[i]);
        AppendDouble(series.quantile_values[i], out_);
        out_->push_back('\n');
      }
      return;
    }
    case PrometheusType::kHistogram: {
      CountAndSum(series);
      const std::vector<std::string>& bounds = LevelTexts(series.bucket_bounds);
      for (size_t i = 0; i < series.bucket_counts.size(); ++i) {
        Head(series, "_bucket", "le", bounds[i]);
        AppendUint(series.bucket_counts[i], out_);
        out_->push_back('\n');
      }
      Head(series, "_bucket", "le", "+Inf");
      AppendUint(series.count, out_);
      out_->push_back('\n');
      return;
    }
  }
}

void WritePrometheusCounts(const std::vector<SelfMetric>& counts, std::string* out) {
  PrometheusTextWriter writer(out);
  for (const SelfMetric& metric : counts) {
    writer.Family({metric.name, PrometheusType::kCounter, metric.help});
    PrometheusSeriesView series;
    series.value = metric.value;
    writer.Series(series);
  }
}

}  // namespace tallyd::backends
