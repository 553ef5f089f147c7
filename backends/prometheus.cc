#include "backends/prometheus.h"

#include <CivetServer.h>
#include <civetweb.h>
#include <glog/logging.h>
#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "aggregator/snapshot.h"
#include "backends/listening_sockets.h"
#include "backends/prometheus_names.h"

namespace tallyd::backends {
namespace {

using PromType = prometheus::MetricType;

// prometheus-cpp's Exposer exports these on every endpoint: user series may not take them.
const std::vector<std::string>& ExposerMetricNames() {
  static const auto* names = new std::vector<std::string>{
      "exposer_transferred_bytes_total", "exposer_scrapes_total", "exposer_request_latencies",
      "exposer_request_latencies_sum", "exposer_request_latencies_count"};
  return *names;
}

// Answers GET /healthz before civetweb looks for a handler. Returns 0 for any other URI so
// the Exposer's handlers serve it.
int AnswerHealthz(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (info == nullptr || info->local_uri == nullptr ||
      std::strcmp(info->local_uri, "/healthz") != 0) {
    return 0;
  }
  static constexpr char kResponse[] =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: 2\r\n"
      "\r\n"
      "ok";
  mg_write(conn, kResponse, sizeof(kResponse) - 1);
  return 200;
}

absl::Status ValidateOptions(const PrometheusOptions& options) {
  const std::string& listen = options.listen;
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    const char* begin = listen.data() + colon + 1;
    const char* end = listen.data() + listen.size();
    auto [ptr, ec] = std::from_chars(begin, end, port);
    if (ec != std::errc() || ptr != end || begin == end) port = -1;
  }
  if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("prometheus listen \"", listen, "\": expected host:port"));
  }
  if (absl::Status status = ValidatePrometheusConversionOptions(options.Conversion());
      !status.ok()) {
    return status;
  }
  if (options.scrape_threads < 1) {
    return absl::InvalidArgumentError("prometheus scrape_threads: must be at least 1");
  }
  return absl::OkStatus();
}

}  // namespace

// Serves the state to prometheus-cpp's Exposer on civetweb's scrape threads: tallyd's own
// metrics, the conversion counts and the converted series.
class PrometheusBackend::SeriesCollector : public prometheus::Collectable {
 public:
  explicit SeriesCollector(const PrometheusState* state) : state_(state) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    FamilyBuilder builder;
    state_->Visit(builder);
    for (const SelfMetric& metric : state_->CountsAsSelfMetrics()) {
      builder.Family({metric.name, PrometheusType::kCounter, metric.help});
      PrometheusSeriesView series;
      series.value = metric.value;
      builder.Series(series);
    }
    return std::move(builder.out);
  }

 private:
  struct FamilyBuilder : PrometheusVisitor {
    void Family(const PrometheusFamilyView& family) override {
      prometheus::MetricFamily& out_family = out.emplace_back();
      out_family.name = std::string(family.name);
      out_family.help = std::string(family.help);
      type = family.type;
      switch (family.type) {
        case PrometheusType::kCounter:
          out_family.type = PromType::Counter;
          break;
        case PrometheusType::kGauge:
          out_family.type = PromType::Gauge;
          break;
        case PrometheusType::kSummary:
          out_family.type = PromType::Summary;
          break;
        case PrometheusType::kHistogram:
          out_family.type = PromType::Histogram;
          break;
      }
    }
    void Series(const PrometheusSeriesView& series) override {
      prometheus::ClientMetric& client = out.back().metric.emplace_back();
      for (const PrometheusLabel& label : series.labels) {
        client.label.push_back({std::string(label.name), std::string(label.value)});
      }
      switch (type) {
        case PrometheusType::kCounter:
          client.counter.value = series.value;
          break;
        case PrometheusType::kGauge:
          client.gauge.value = series.value;
          break;
        case PrometheusType::kSummary:
          client.summary.sample_count = series.count;
          client.summary.sample_sum = series.sum;
          for (size_t i = 0; i < series.quantile_values.size(); ++i) {
            client.summary.quantile.push_back(
                {series.quantile_levels[i], series.quantile_values[i]});
          }
          break;
        case PrometheusType::kHistogram:
          client.histogram.sample_count = series.count;
          client.histogram.sample_sum = series.sum;
          for (size_t i = 0; i < series.bucket_counts.size(); ++i) {
            client.histogram.bucket.push_back({series.bucket_counts[i], series.bucket_bounds[i]});
          }
          break;
      }
    }
    std::vector<prometheus::MetricFamily> out;
    PrometheusType type = PrometheusType::kCounter;
  };

  const PrometheusState* state_;
};

absl::StatusOr<std::unique_ptr<PrometheusBackend>> PrometheusBackend::Create(
    PrometheusOptions options) {
  if (absl::Status status = ValidateOptions(options); !status.ok()) return status;
  std::unique_ptr<PrometheusBackend> backend(new PrometheusBackend());
  PrometheusConversionOptions conversion = options.Conversion();
  conversion.reserved_names = ExposerMetricNames();
  backend->state_ = std::make_unique<PrometheusState>(std::move(conversion));
  backend->collector_ = std::make_shared<SeriesCollector>(backend->state_.get());
  backend->callbacks_ = std::make_unique<CivetCallbacks>();
  backend->callbacks_->begin_request = AnswerHealthz;
  const std::set<ListeningSocket> before = ListeningTcpSockets();
  try {
    backend->exposer_ = std::make_unique<prometheus::Exposer>(
        options.listen, static_cast<size_t>(options.scrape_threads), backend->callbacks_.get());
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("prometheus listen ", options.listen, ": cannot listen (", e.what(), ")"));
  }
  backend->listening_fds_ =
      NewListeningSockets(before, ListeningTcpSockets(), backend->exposer_->GetListeningPorts());
  backend->exposer_->RegisterCollectable(backend->collector_);
  LOG(INFO) << "prometheus: serving /metrics and /healthz on " << options.listen << " (port "
            << backend->port() << ")";
  return backend;
}

PrometheusBackend::~PrometheusBackend() {
  // ~Exposer's mg_stop waits for civetweb's accept loop, which sees the stop only between its 2 s
  // polls; a shut-down listening socket ends the poll now (backends/listening_sockets.h). The
  // descriptors are still civetweb's: it closes them only inside mg_stop.
  for (int fd : listening_fds_) shutdown(fd, SHUT_RDWR);
  exposer_.reset();
}

Delivery PrometheusBackend::Deliver(const Flush& flush) {
  state_->Update(flush);
  return Delivery::Delivered();
}

void PrometheusBackend::SetSeriesTtl(absl::Duration series_ttl) {
  state_->SetSeriesTtl(series_ttl);
}

int PrometheusBackend::port() const {
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace tallyd::backends
