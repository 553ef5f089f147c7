#include "backends/prometheus.h"

#include <civetweb.h>
#include <glog/logging.h>
#include <sys/socket.h>
#include <zlib.h>

#include <charconv>
#include <cstring>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backends/debug_endpoint.h"
#include "backends/listening_sockets.h"
#include "backends/prometheus_text.h"
#include "backends/series_report.h"

namespace tallyd::backends {
namespace {

// prometheus-cpp's Exposer (which served /metrics before tallyd rendered it itself) exported
// these; user series still may not take them, so a dashboard never sees them change type.
const std::vector<std::string>& ExposerMetricNames() {
  static const auto* names = new std::vector<std::string>{
      "exposer_transferred_bytes_total", "exposer_scrapes_total", "exposer_request_latencies",
      "exposer_request_latencies_sum", "exposer_request_latencies_count"};
  return *names;
}

// Series rendered per hold of the state's lock: about 100 KB of text, so Deliver waits at most
// for that while a scrape runs, however slow the scraper reads.
constexpr size_t kSeriesPerBatch = 1024;
// Text (or compressed bytes) gathered before one HTTP chunk is written.
constexpr size_t kChunkBytes = 256 * 1024;

bool IsUri(mg_connection* conn, const char* uri) {
  const mg_request_info* info = mg_get_request_info(conn);
  return info != nullptr && info->local_uri != nullptr && std::strcmp(info->local_uri, uri) == 0;
}

// Writes the body as HTTP/1.1 chunks, or plain for an HTTP/1.0 client (which cannot read
// chunks; civetweb closes its connection after the response).
class BodyWriter {
 public:
  BodyWriter(mg_connection* conn, bool chunked) : conn_(conn), chunked_(chunked) {}
  bool Write(std::string_view bytes) {
    if (bytes.empty() || failed_) return !failed_;
    const int n = chunked_ ? mg_send_chunk(conn_, bytes.data(), bytes.size())
                           : mg_write(conn_, bytes.data(), bytes.size());
    failed_ = n <= 0;
    return !failed_;
  }
  bool Finish() {
    if (chunked_ && !failed_) failed_ = mg_write(conn_, "0\r\n\r\n", 5) != 5;
    return !failed_;
  }

 private:
  mg_connection* conn_;
  const bool chunked_;
  bool failed_ = false;
};

// gzip (RFC 1952) of a stream given piece by piece, as prometheus-cpp's Exposer answered a
// scraper that accepts it (Prometheus does).
class GzipStream {
 public:
  GzipStream() {
    // 15 + 16: a gzip header and trailer around the deflate stream. Level 1: a scrape is large
    // and read once; speed matters more than the last bytes.
    ok_ = deflateInit2(&stream_, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipStream() {
    if (ok_) deflateEnd(&stream_);
  }
  bool ok() const { return ok_; }
  // Compresses `in` (all of it), appending to *out.
  void Compress(std::string_view in, bool finish, std::string* out) {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    stream_.avail_in = static_cast<uInt>(in.size());
    // Straight into *out: civetweb's threads have small stacks (Debian builds them with 100 KiB).
    int status;
    do {
      const size_t used = out->size();
      out->resize(used + kDeflateStep);
      stream_.next_out = reinterpret_cast<Bytef*>(out->data() + used);
      stream_.avail_out = kDeflateStep;
      status = deflate(&stream_, finish ? Z_FINISH : Z_NO_FLUSH);
      out->resize(used + kDeflateStep - stream_.avail_out);
    } while (stream_.avail_out == 0 ||
             (finish && status != Z_STREAM_END && status != Z_STREAM_ERROR));
  }

 private:
  static constexpr uInt kDeflateStep = 64 * 1024;
  z_stream stream_{};
  bool ok_ = false;
};

// Answers GET /healthz, /metrics and /debug/ before civetweb looks for a handler (there is
// none: any other URI is civetweb's 404).
int AnswerRequest(mg_connection* conn) {
  if (IsUri(conn, "/healthz")) {
    static constexpr char kResponse[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 2\r\n"
        "\r\n"
        "ok";
    mg_write(conn, kResponse, sizeof(kResponse) - 1);
    return 200;
  }
  const auto* backend =
      static_cast<const PrometheusBackend*>(mg_get_user_data(mg_get_context(conn)));
  if (IsUri(conn, "/metrics")) {
    backend->Scrape(conn);
    return 200;
  }
  return AnswerDebugRequest(conn, backend->series_report(), backend->config_page());
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

void PrometheusBackend::Scrape(mg_connection* conn) const {
  const mg_request_info* info = mg_get_request_info(conn);
  const bool chunked = info->http_version == nullptr || std::strcmp(info->http_version, "1.0") != 0;
  const char* accept = mg_get_header(conn, "Accept-Encoding");
  GzipStream gzip;
  const bool compress = accept != nullptr && std::strstr(accept, "gzip") != nullptr && gzip.ok();
  const std::string head =
      absl::StrCat(chunked ? "HTTP/1.1" : "HTTP/1.0",
                   " 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
                   compress ? "Content-Encoding: gzip\r\n" : "",
                   chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n", "\r\n");
  if (mg_write(conn, head.data(), head.size()) != static_cast<int>(head.size())) return;

  BodyWriter body(conn, chunked);
  std::string text;
  std::string compressed;
  text.reserve(kChunkBytes + kChunkBytes / 2);
  // Hands what is gathered to the connection, outside the state's lock.
  auto drain = [&](bool last) {
    if (!compress) {
      if (text.size() >= kChunkBytes || last) {
        body.Write(text);
        text.clear();
      }
      return;
    }
    if (text.size() >= kChunkBytes || last) {
      gzip.Compress(text, last, &compressed);
      text.clear();
    }
    if (compressed.size() >= kChunkBytes || last) {
      body.Write(compressed);
      compressed.clear();
    }
  };
  PrometheusTextWriter writer(&text);
  PrometheusState::Cursor cursor;
  while (!cursor.done()) {
    state_->VisitBatch(cursor, kSeriesPerBatch, writer);
    drain(false);
  }
  WritePrometheusCounts(state_->CountsAsSelfMetrics(), &text);
  drain(true);
  body.Finish();
}

absl::StatusOr<std::unique_ptr<PrometheusBackend>> PrometheusBackend::Create(
    PrometheusOptions options) {
  if (absl::Status status = ValidateOptions(options); !status.ok()) return status;
  std::unique_ptr<PrometheusBackend> backend(new PrometheusBackend());
  PrometheusConversionOptions conversion = options.Conversion();
  conversion.reserved_names = ExposerMetricNames();
  backend->state_ = std::make_unique<PrometheusState>(std::move(conversion));
  backend->series_report_ = std::make_unique<SeriesReport>(options.max_series);

  mg_callbacks callbacks{};
  callbacks.begin_request = AnswerRequest;
  const std::string threads = std::to_string(options.scrape_threads);
  const char* civet_options[] = {"listening_ports", options.listen.c_str(), "num_threads",
                                 threads.c_str(), nullptr};
  const std::set<ListeningSocket> before = ListeningTcpSockets();
  backend->server_ = mg_start(&callbacks, backend.get(), civet_options);
  if (backend->server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("prometheus listen ", options.listen,
                                               ": cannot listen (address in use or "
                                               "not available)"));
  }
  std::vector<int> ports;
  mg_server_port server_ports[8];
  const int count = mg_get_server_ports(backend->server_, 8, server_ports);
  for (int i = 0; i < count; ++i) ports.push_back(server_ports[i].port);
  backend->port_ = ports.empty() ? 0 : ports.front();
  backend->listening_fds_ = NewListeningSockets(before, ListeningTcpSockets(), ports);
  LOG(INFO) << "prometheus: serving /metrics, /healthz, /debug/series and /debug/config on "
            << options.listen << " (port " << backend->port() << ")";
  return backend;
}

PrometheusBackend::~PrometheusBackend() {
  // mg_stop waits for civetweb's accept loop, which sees the stop only between its 2 s polls; a
  // shut-down listening socket ends the poll now (backends/listening_sockets.h). The
  // descriptors are still civetweb's: it closes them only inside mg_stop.
  for (int fd : listening_fds_) shutdown(fd, SHUT_RDWR);
  // Before state_ goes: no scrape thread outlives the state it reads.
  if (server_ != nullptr) mg_stop(server_);
}

void PrometheusBackend::Observe(const Flush& flush) {
  if (flush.snapshot != nullptr && flush.snapshot->sequence != 0) {
    if (flush.snapshot->sequence <= observed_sequence_) return;  // folded in already
    observed_sequence_ = flush.snapshot->sequence;
  } else {
    if (flush.snapshot == observed_unsequenced_.snapshot &&
        flush.self_metrics == observed_unsequenced_.self_metrics) {
      return;
    }
    observed_unsequenced_ = flush;
  }
  state_->Update(flush);
}

Delivery PrometheusBackend::Deliver(const Flush& flush) {
  Observe(flush);  // a no-op when the runner observed it
  if (newer_queued_ == 0) {
    series_report_->Update(*flush.snapshot);
  } else {
    series_report_->CountDrops(*flush.snapshot);
  }
  return Delivery::Delivered();
}

void PrometheusBackend::SetSeriesTtl(absl::Duration series_ttl) {
  state_->SetSeriesTtl(series_ttl);
}

void PrometheusBackend::SetConfigPage(std::string text, std::string json) {
  auto page = std::make_shared<const ConfigPage>(ConfigPage{std::move(text), std::move(json)});
  absl::MutexLock lock(&config_mu_);
  config_page_ = std::move(page);
}

std::shared_ptr<const ConfigPage> PrometheusBackend::config_page() const {
  absl::MutexLock lock(&config_mu_);
  return config_page_;
}

void PrometheusBackend::SetMaxSeries(uint64_t max_series) {
  series_report_->SetMaxSeries(max_series);
}

}  // namespace tallyd::backends
