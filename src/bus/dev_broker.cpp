// `selfheal dev-broker`: a Kafka protocol endpoint for development and tests, backed by librdkafka's
// mock cluster. In memory, not durable, keeps only the newest ~100k messages per partition: never
// for production. Its first stdout line is `bootstrap.servers=HOST:PORT[,...]`. Lines on stdin
// control it: `down` (every broker stops answering), `up`, `quit`.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "bus/kafka_bus.hpp"
#include "cli/args.hpp"
#include "contracts/topics.hpp"

namespace selfheal {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

void set_brokers(rd_kafka_mock_cluster_t* mc, int brokers, bool up) {
  for (int id = 1; id <= brokers; ++id) {
    if (up) rd_kafka_mock_broker_set_up(mc, id);
    else rd_kafka_mock_broker_set_down(mc, id);
  }
}

}  // namespace

int dev_broker_main(int argc, char** argv) {
  cli::Args args("dev-broker", "selfheal dev-broker [--brokers N] [--partitions P]");
  args.option("brokers", "N", "mock brokers", "1");
  args.option("partitions", "P", "partitions of each selfheal topic", "4");
  args.option("dead-letter-topic", "NAME", "dead-letter topic to create", "selfheal.dead-letter");
  if (!args.parse(argc, argv)) return 0;
  const int brokers = static_cast<int>(args.get_int("brokers"));
  const int partitions = static_cast<int>(args.get_int("partitions"));
  if (brokers < 1 || partitions < 1) throw cli::ArgError("dev-broker: --brokers and --partitions must be at least 1");

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "test.mock.num.brokers", std::to_string(brokers).c_str(), err, sizeof err) !=
      RD_KAFKA_CONF_OK)
    throw std::runtime_error(std::string("dev-broker: ") + err);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("dev-broker: cannot start the mock cluster: ") + err);
  rd_kafka_mock_cluster_t* mc = rd_kafka_handle_mock_cluster(rk);
  for (auto t : topics::kAll) rd_kafka_mock_topic_create(mc, std::string(t).c_str(), partitions, 1);
  rd_kafka_mock_topic_create(mc, args.get("dead-letter-topic").c_str(), partitions, 1);

  std::printf("bootstrap.servers=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  std::fflush(stdout);
  std::fprintf(stderr,
               "dev-broker: librdkafka mock cluster, %d broker(s), %d partitions per topic. In memory and not "
               "durable: for development and tests only, never production. Ctrl-C stops it.\n",
               brokers, partitions);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::string line;
  bool stdin_open = true;
  while (!g_stop.load()) {
    if (!stdin_open) {
      rd_kafka_poll(rk, 200);
      continue;
    }
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    if (!std::getline(std::cin, line)) {
      stdin_open = false;  // no controller attached: run until a signal
      continue;
    }
    if (line == "down") set_brokers(mc, brokers, false);
    else if (line == "up") set_brokers(mc, brokers, true);
    else if (line == "quit") break;
    else if (!line.empty()) std::fprintf(stderr, "dev-broker: unknown command '%s' (down, up, quit)\n", line.c_str());
    std::printf("ok %s\n", line.c_str());
    std::fflush(stdout);
  }
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace selfheal
