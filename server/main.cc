// tallyd: StatsD / DogStatsD aggregation server. Exit status (SPEC 1): 0 normal stop, 2 bad
// config or flags, 1 anything else (a port in use, with the address).
#include <glog/logging.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/usage.h"
#include "server/config.h"
#include "server/log_level.h"
#include "server/malloc_huge_pages.h"
#include "server/server.h"

ABSL_FLAG(std::string, ports_file, "",
          "after start-up, write the bound addresses here, one per line (\"udp 127.0.0.1:8125\"), "
          "and again when a SIGHUP moves the Prometheus endpoint; for scripts and tests that "
          "listen on port 0");

int main(int argc, char* argv[]) {
  tallyd::server::ReexecWithMallocHugePages(argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;

  // --help prints the flags and exits 0, as users expect; Abseil's own handler exits 1.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-help" || arg == "-h") {
      char* just_program[] = {argv[0], nullptr};
      (void)tallyd::ParseTallydCommandLine(1, just_program);  // sets the usage text
      absl::flags_internal::FlagsHelp(std::cout, "",
                                      absl::flags_internal::HelpFormat::kHumanReadable,
                                      absl::ProgramUsageMessage());
      return 0;
    }
  }
  absl::StatusOr<std::vector<std::string>> args = tallyd::ParseTallydCommandLine(argc, argv);
  if (!args.ok()) {
    std::cerr << "tallyd: " << args.status().message() << "\n";
    return 2;
  }
  if (!args->empty()) {
    std::cerr << "tallyd: unexpected argument \"" << args->front() << "\"\n";
    return 2;
  }
  absl::StatusOr<tallyd::Config> config = tallyd::LoadConfigFromFlags();
  if (!config.ok()) {
    std::cerr << "tallyd: " << config.status().message() << "\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_check_config)) {
    std::cout << "config ok\n";
    return 0;
  }
  tallyd::server::ApplyLogLevel(config->log_level);
  signal(SIGPIPE, SIG_IGN);  // a peer closing a socket is an error to handle, not a crash

  tallyd::server::ServerOptions options;
  options.config_path = absl::GetFlag(FLAGS_config);
  options.ports_file = absl::GetFlag(FLAGS_ports_file);
  tallyd::server::Server server(*config, std::move(options));
  if (absl::Status status = server.Start(); !status.ok()) {
    LOG(ERROR) << "cannot start: " << status.message();
    return 1;
  }
  const int code = server.Run();
  if (server.abandoned_threads()) {
    // A backend still stopping past shutdown_timeout: exit now rather than wait for it, and
    // without destructors, which would pull its state from under its thread.
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}
