#include "server/top_command.h"

#include <curl/curl.h>

#include <charconv>
#include <optional>
#include <ostream>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "config/values.h"

namespace tallyd::server {
namespace {

constexpr char kUsage[] =
    "usage: tallyd top [--url=HOST:PORT|URL] [-n N] [--watch [--interval=DURATION] "
    "[--iterations=K]]\n"
    "  Shows the metric names with the most live series and the most samples in the last\n"
    "  flush of a running tallyd, from its scrape port's /debug/series.\n"
    "  --url         the scrape endpoint (default 127.0.0.1:9102)\n"
    "  -n N          names per ranking (default: the server's, 20)\n"
    "  --watch       redraw like top(1), every flush interval or --interval; Ctrl-C stops\n"
    "  --interval    time between redraws with --watch (e.g. 2s)\n"
    "  --iterations  stop after K redraws (default: never)\n";

struct TopOptions {
  std::string url = "http://127.0.0.1:9102/debug/series";
  std::optional<size_t> names;
  bool watch = false;
  std::optional<absl::Duration> interval;
  std::optional<size_t> iterations;
};

// "host:port" -> "http://host:port/debug/series"; a URL with a path is taken as is.
std::string ToUrl(std::string_view given) {
  std::string url(given);
  if (url.find("://") == std::string::npos) url = "http://" + url;
  if (url.find('/', url.find("://") + 3) == std::string::npos) url += "/debug/series";
  return url;
}

std::optional<size_t> ParseCount(std::string_view text) {
  size_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

// Accepts "--flag=value" and "--flag value" (and "-n N", "-nN").
absl::StatusOr<TopOptions> ParseTopFlags(const std::vector<std::string>& args) {
  TopOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view name = arg;
    std::optional<std::string> value;
    if (size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    } else if (arg.starts_with("-n") && arg.size() > 2 && !arg.starts_with("--")) {
      name = "-n";
      value = std::string(arg.substr(2));
    }
    auto take_value = [&]() -> absl::StatusOr<std::string> {
      if (value.has_value()) return *value;
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(name), " needs a value"));
      }
      return args[++i];
    };
    if (name == "--watch" && !value.has_value()) {
      options.watch = true;
    } else if (name == "--url") {
      absl::StatusOr<std::string> v = take_value();
      if (!v.ok()) return v.status();
      options.url = ToUrl(*v);
    } else if (name == "-n" || name == "--iterations") {
      absl::StatusOr<std::string> v = take_value();
      if (!v.ok()) return v.status();
      std::optional<size_t> n = ParseCount(*v);
      if (!n.has_value() || *n == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(name), " \"", *v, "\": expected a whole number of 1 or more"));
      }
      (name == "-n" ? options.names : options.iterations) = n;
    } else if (name == "--interval") {
      absl::StatusOr<std::string> v = take_value();
      if (!v.ok()) return v.status();
      absl::StatusOr<absl::Duration> d = ParseDuration(*v);
      if (!d.ok() || *d <= absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--interval \"", *v, "\": expected a positive duration such as 2s"));
      }
      options.interval = *d;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument \"", std::string(arg), "\""));
    }
  }
  return options;
}

struct Page {
  std::string body;
  std::optional<absl::Duration> flush_interval;  // from X-Tallyd-Flush-Interval
};

size_t AppendBody(char* data, size_t size, size_t count, void* page) {
  static_cast<Page*>(page)->body.append(data, size * count);
  return size * count;
}

size_t ReadHeader(char* data, size_t size, size_t count, void* page) {
  std::string_view line(data, size * count);
  constexpr std::string_view kName = "x-tallyd-flush-interval:";
  if (line.size() > kName.size()) {
    std::string lower;
    for (char c : line.substr(0, kName.size())) lower.push_back(absl::ascii_tolower(c));
    if (lower == kName) {
      std::string_view value = line.substr(kName.size());
      while (!value.empty() && (value.front() == ' ')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) {
        value.remove_suffix(1);
      }
      absl::StatusOr<absl::Duration> d = ParseDuration(std::string(value));
      if (d.ok() && *d > absl::ZeroDuration()) static_cast<Page*>(page)->flush_interval = *d;
    }
  }
  return size * count;
}

absl::StatusOr<Page> Fetch(const std::string& url) {
  Page page;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("libcurl: cannot start");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &page);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &page);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(url, ": ", curl_easy_strerror(code),
                                               " (is tallyd running with prometheus on?)"));
  }
  if (status != 200) {
    return absl::UnavailableError(
        absl::StrCat(url, ": HTTP ", status, " (a tallyd older than /debug/series?)"));
  }
  return page;
}

}  // namespace

int RunTopCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return 0;
    }
  }
  absl::StatusOr<TopOptions> options = ParseTopFlags(args);
  if (!options.ok()) {
    err << "tallyd top: " << options.status().message() << "\n" << kUsage;
    return 2;
  }
  std::string url = options->url;
  if (options->names.has_value()) {
    absl::StrAppend(&url, url.find('?') == std::string::npos ? "?" : "&", "n=", *options->names);
  }
  for (size_t round = 1;; ++round) {
    absl::StatusOr<Page> page = Fetch(url);
    if (!page.ok()) {
      err << "tallyd top: " << page.status().message() << "\n";
      return 1;
    }
    // As top(1): home the cursor and clear the screen, then draw.
    if (options->watch) out << "\x1b[H\x1b[2J";
    out << page->body << std::flush;
    if (!options->watch || (options->iterations && round >= *options->iterations)) return 0;
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(
        options->interval.value_or(page->flush_interval.value_or(absl::Seconds(10)))));
  }
}

}  // namespace tallyd::server
