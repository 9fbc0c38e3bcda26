#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/app.hpp"
#include "app/narrator.hpp"
#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"

namespace selfheal::cli {
namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

}  // namespace

int run_services_main(int argc, char** argv) {
  const std::string target = argv[0];
  const bool all = target == "all";
  Args args(target, "selfheal " + target + " [--config FILE] [--set path=value ...]" +
                        (all ? " [--once] [--speed N]" : ""));
  args.option("config", "FILE", "YAML configuration (see config/selfheal.yaml)");
  args.repeated("set", "PATH=VALUE", "override one configuration key");
  if (target == "cluster-sim" || all)
    args.option("kubeconfig-out", "PATH", "write a kubeconfig for the simulated cluster's API here "
                                          "(sets cluster_sim.kubeconfig_out)");
  if (all) {
    args.flag("once", "exit when the scenario ends: status 0 if every injected fault was detected and repaired");
    args.option("speed", "N", "simulated seconds per wall second; 0 = as fast as possible (sets clock.speed)");
  }
  if (!args.parse(argc, argv)) return 0;

  std::vector<std::string> overrides = args.all("set");
  if (args.has("speed")) overrides.push_back("clock.speed=" + args.get("speed"));
  if (args.has("kubeconfig-out")) overrides.push_back("cluster_sim.kubeconfig_out=" + args.get("kubeconfig-out"));
  Config config = Config::load(config_schema(), args.get("config"), overrides);

  App app(std::move(config), all ? std::vector<std::string>{} : std::vector<std::string>{target});
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  app.start();

  std::printf("selfheal %s: %zu service(s) running, admin %s\n", target.c_str(),
              all ? service_registry().names(true).size() : std::size_t{1}, app.admin()->url().c_str());
  for (const auto& name : service_registry().names(true))
    if (Service* s = app.service(name); s && !s->endpoint().empty())
      std::printf("  %-20s %s\n", name.c_str(), s->endpoint().c_str());
  std::printf("Press Ctrl-C to stop.\n");
  std::fflush(stdout);

  const bool once = all && args.has("once");
  int status = app.run(g_stop, once);
  RunOutcome outcome;
  if (Service* n = app.service("narrator")) outcome = narrator_outcome(*n);
  app.stop();
  if (once && status == 0) status = outcome.all_repaired() ? 0 : 1;
  return status;
}

}  // namespace selfheal::cli
