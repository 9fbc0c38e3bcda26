// selfheal: one binary, whose subcommands are the services (`selfheal log-processor`, ...), `all`
// (every service in one process), and the tools (eval, logparse, nab, ...).
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "app/app.hpp"
#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "core/config.hpp"

namespace {

void print_help() {
  std::puts("selfheal: detects incidents in microservices' logs and metrics, explains them and repairs them\n"
            "through the Kubernetes API.\n\n"
            "usage: selfheal <command> [options]     (selfheal <command> --help for its options)\n\n"
            "Run everything in one process:\n"
            "  all                  every service below, over an in-process bus");
  std::puts("\nRun one service:");
  for (const auto& s : selfheal::service_registry().all())
    if (!s.hidden) std::printf("  %-20s %s\n", s.name.c_str(), s.description.c_str());
  std::puts("\nTools:");
  for (const auto& c : selfheal::cli::tool_commands()) std::printf("  %-20s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "all" || (selfheal::service_registry().find(cmd) && !selfheal::service_registry().find(cmd)->hidden))
      return selfheal::cli::run_services_main(argc - 1, argv + 1);
    for (const auto& c : selfheal::cli::tool_commands())
      if (cmd == c.name) return c.main(argc - 1, argv + 1);
    std::fprintf(stderr, "selfheal: unknown command '%s'; `selfheal --help` lists the commands\n", cmd.c_str());
    return 2;
  } catch (const selfheal::cli::ArgError& e) {
    std::fprintf(stderr, "selfheal %s\n", e.what());
    return 2;
  } catch (const selfheal::ConfigError& e) {
    std::fprintf(stderr, "selfheal: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "selfheal %s: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
