// The subcommands of `selfheal` other than the services: one table, picked by the first argument
// (like ClickHouse's programs/main.cpp). Each entry's main parses its own arguments.
#pragma once

#include <vector>

namespace selfheal::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*main)(int argc, char** argv);  // argv[0] is the subcommand's name
};

const std::vector<Command>& tool_commands();

// Runs services: `selfheal all` (every service in one process) or `selfheal <service>`.
int run_services_main(int argc, char** argv);

// `selfheal replay`: re-processes a topic's history from a time (replay_command.cpp).
int replay_main(int argc, char** argv);

}  // namespace selfheal::cli
