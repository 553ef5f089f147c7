// tallyd: StatsD / DogStatsD aggregation server. Exit status (SPEC 1): 0 normal stop, 2 bad
// config or flags, 1 anything else (a port in use, with the address).
#include <glog/logging.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "config/config.h"
#include "mapping/mapping.h"
#include "server/log_level.h"
#include "server/malloc_huge_pages.h"
#include "server/server.h"
#include "server/top_command.h"

int main(int argc, char* argv[]) {
  // `tallyd top ...` is a client of a running tallyd, not a server: its words are its own.
  if (argc >= 2 && std::string(argv[1]) == "top") {
    return tallyd::server::RunTopCommand(std::vector<std::string>(argv + 2, argv + argc), std::cout,
                                         std::cerr);
  }
  tallyd::server::ReexecWithMallocHugePages(argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;

  absl::StatusOr<tallyd::CommandLine> command_line =
      tallyd::ParseCommandLine(std::vector<std::string>(argv, argv + argc));
  if (!command_line.ok()) {
    std::cerr << "tallyd: " << command_line.status().message() << "\n";
    return 2;
  }
  if (command_line->help.has_value()) {
    std::cout << tallyd::FormatHelp(*command_line->help);
    return 0;
  }
  if (command_line->version) {
    std::cout << tallyd::FormatVersion();
    return 0;
  }
  tallyd::ConfigOrigins origins;  // for GET /debug/config
  absl::StatusOr<tallyd::Config> config = tallyd::LoadConfig(*command_line, &origins);
  if (!config.ok()) {
    std::cerr << "tallyd: " << config.status().message() << "\n";
    return 2;
  }
  // The mapping file is part of the config: one that does not load stops start-up (SPEC 7).
  std::shared_ptr<const tallyd::mapping::Mapping> mapping;
  if (!config->mapping_file.empty()) {
    absl::StatusOr<std::shared_ptr<const tallyd::mapping::Mapping>> loaded =
        tallyd::mapping::LoadMappingFile(config->mapping_file);
    if (!loaded.ok()) {
      std::cerr << "tallyd: mapping_file: " << loaded.status().message() << "\n";
      return 2;
    }
    mapping = *std::move(loaded);
  }
  if (command_line->check_config) {
    std::cout << "config ok\n";
    return 0;
  }
  tallyd::server::ApplyLogLevel(config->log_level);
  signal(SIGPIPE, SIG_IGN);  // a peer closing a socket is an error to handle, not a crash

  tallyd::server::ServerOptions options;
  options.command_line = *std::move(command_line);
  options.mapping = std::move(mapping);
  options.origins = std::move(origins);
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
