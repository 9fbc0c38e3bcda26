#include "cli/commands.hpp"

#include <cstdio>
#include <iostream>

#include "app/app.hpp"
#include "cli/args.hpp"
#include "core/config.hpp"
#include "detector/nab_cli.hpp"
#include "logproc/logparse_command.hpp"
#include "sim/chaos.hpp"
#include "eval/eval_cli.hpp"
#include "bus/kafka_bus.hpp"

namespace selfheal::cli {
namespace {

int config_main(int argc, char** argv) {
  Args args("config", "selfheal config defaults | check [--config FILE] [--set path=value ...]");
  args.positional("action", "defaults: print every key with its default and description; "
                            "check: load and validate a configuration");
  args.option("config", "FILE", "YAML file to check");
  args.repeated("set", "PATH=VALUE", "override one key");
  if (!args.parse(argc, argv)) return 0;
  const std::string action = args.get("action");
  if (action == "defaults") {
    std::cout << config_schema().render_defaults_yaml();
    return 0;
  }
  if (action == "check") {
    Config c = Config::load(config_schema(), args.get("config"), args.all("set"));
    std::cout << "configuration is valid (" << config_schema().keys().size() << " keys)\n";
    for (const auto& k : config_schema().keys())
      if (c.source_of(k.path) != "default") std::cout << "  " << k.path << " from " << c.source_of(k.path) << "\n";
    return 0;
  }
  throw ArgError("config: unknown action '" + action + "'; use defaults or check");
}

int version_main(int, char**) {
  std::puts("selfheal 0.1.0");
  return 0;
}

}  // namespace

const std::vector<Command>& tool_commands() {
  static const std::vector<Command> kCommands = {
      {"chaos", "Inject a fault into a running cluster-sim: chaos inject <fault> --service NAME", sim::chaos_main},
      {"config", "Print the documented defaults, or validate a configuration", config_main},
      {"eval", "Run a suite of scenarios and score detection, diagnosis and repair against ground truth",
       eval::eval_main},
      {"dev-broker", "A Kafka mock cluster for development and tests (in memory, never for production)",
       dev_broker_main},
      {"replay", "Re-process a Kafka topic's history: rewind a consumer group to a time, or print a time slice",
       replay_main},
      {"nab", "Run the anomaly detector over a NAB-layout corpus and write NAB results files",
       detector::nab_main},
      {"nab-score", "Score NAB results files exactly as NAB does (standard, low FP, low FN)",
       detector::nab_score_main},
      {"version", "Print the version", version_main},
      {"logparse", "Template-mining benchmark on loghub-style datasets (GA/PA per dataset)", logproc::logparse_main},
  };
  return kCommands;
}

}  // namespace selfheal::cli
