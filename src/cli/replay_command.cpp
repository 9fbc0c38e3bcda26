// `selfheal replay --topic T --from TIME [--to TIME] [--group G]`: re-processes history kept in Kafka.
//
// Every event's Kafka timestamp is its event time (KafkaBus::publish), so a time names a position in
// each partition: the first message stamped at or after it. Kafka finds it with offsetsForTimes;
// brokers that do not answer by time (librdkafka's mock cluster behind `selfheal dev-broker`) are
// searched by reading single messages (binary search on the timestamps, which grow in a partition
// because each service's events are keyed to one and are published in time order).
//
//  * with --group G: moves G's committed offsets on T back to --from, so the service consuming as G
//    re-processes everything from there when it (re)starts. Kafka refuses the move while members of
//    G are connected: stop them first. Consumers de-duplicate by event id, so what they already
//    acted on is not acted on twice.
//  * without --group: prints the events of T in [--from, --to) as JSON lines on stdout (oldest
//    first per partition), for inspection or another tool; a summary goes to stderr.
#include <librdkafka/rdkafkacpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "app/app.hpp"
#include "bus/kafka_bus.hpp"
#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "contracts/events_json.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"

namespace selfheal::cli {
namespace {

std::unique_ptr<RdKafka::KafkaConsumer> make_consumer(const KafkaOptions& o, const std::string& group) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  auto set = [&](const std::string& k, const std::string& v) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::runtime_error("kafka setting " + k + ": " + err);
  };
  set("bootstrap.servers", o.bootstrap_servers);
  set("client.id", o.client_id + "-replay");
  set("group.id", group);
  set("enable.auto.commit", "false");
  set("enable.partition.eof", "true");
  set("session.timeout.ms", "6000");  // as the services' consumers (kafka_bus.cpp)
  set("heartbeat.interval.ms", "500");
  for (const auto& p : o.properties) {
    auto eq = p.find('=');
    if (eq == std::string::npos) throw std::runtime_error("kafka.properties entry \"" + p + "\": expected name=value");
    set(p.substr(0, eq), p.substr(eq + 1));
  }
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error("kafka consumer: " + err);
  return c;
}

class Partitions {
 public:
  Partitions(RdKafka::KafkaConsumer& c, std::string topic) : c_(c), topic_(std::move(topic)) {}

  std::vector<int> list() {
    RdKafka::Metadata* md = nullptr;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&c_, topic_, nullptr, err_));
    RdKafka::ErrorCode e = c_.metadata(false, t.get(), &md, 10000);
    std::unique_ptr<RdKafka::Metadata> owned(md);
    if (e != RdKafka::ERR_NO_ERROR) throw std::runtime_error("metadata of " + topic_ + ": " + RdKafka::err2str(e));
    std::vector<int> out;
    for (const auto* tm : *md->topics()) {
      if (tm->err() != RdKafka::ERR_NO_ERROR)
        throw std::runtime_error("topic " + topic_ + ": " + RdKafka::err2str(tm->err()));
      for (const auto* pm : *tm->partitions()) out.push_back(pm->id());
    }
    if (out.empty()) throw std::runtime_error("topic " + topic_ + " has no partitions (does it exist?)");
    std::sort(out.begin(), out.end());
    return out;
  }

  std::pair<std::int64_t, std::int64_t> watermarks(int partition) {
    std::int64_t low = 0, high = 0;
    RdKafka::ErrorCode e = c_.query_watermark_offsets(topic_, partition, &low, &high, 10000);
    if (e != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("offsets of " + topic_ + "[" + std::to_string(partition) + "]: " + RdKafka::err2str(e));
    return {low, high};
  }

  // The first offset whose message is stamped at or after `ts` (`high` when there is none).
  std::int64_t offset_for_time(int partition, TimeMs ts) {
    auto [low, high] = watermarks(partition);
    if (low >= high) return high;
    std::vector<RdKafka::TopicPartition*> q = {RdKafka::TopicPartition::create(topic_, partition, ts)};
    RdKafka::ErrorCode e = c_.offsetsForTimes(q, 10000);
    std::int64_t found = q[0]->offset();
    RdKafka::TopicPartition::destroy(q);
    if (e == RdKafka::ERR_NO_ERROR && found >= low) return found;
    // No answer by time: either nothing is that recent, or the broker does not index by time.
    if (timestamp_at(partition, high - 1) < ts) return high;
    std::int64_t lo = low, hi = high - 1;  // timestamp_at(hi) >= ts
    while (lo < hi) {
      std::int64_t mid = lo + (hi - lo) / 2;
      if (timestamp_at(partition, mid) >= ts) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  // Reads messages of one partition from `offset` until `stop` returns false or `end` is reached.
  template <typename F>
  void read(int partition, std::int64_t offset, std::int64_t end, F&& each) {
    if (offset >= end) return;
    std::vector<RdKafka::TopicPartition*> a = {RdKafka::TopicPartition::create(topic_, partition, offset)};
    c_.assign(a);
    RdKafka::TopicPartition::destroy(a);
    int idle = 0;
    while (idle < 100) {  // 100 empty polls of 100 ms: the broker has nothing more for us
      std::unique_ptr<RdKafka::Message> m(c_.consume(100));
      if (!m || m->err() == RdKafka::ERR__TIMED_OUT) {
        ++idle;
        continue;
      }
      if (m->err() == RdKafka::ERR__PARTITION_EOF) break;
      if (m->err() != RdKafka::ERR_NO_ERROR) throw std::runtime_error("reading " + topic_ + ": " + m->errstr());
      idle = 0;
      if (m->partition() != partition) continue;
      if (m->offset() >= end || !each(*m)) break;
    }
    c_.unassign();
  }

 private:
  TimeMs timestamp_at(int partition, std::int64_t offset) {
    TimeMs ts = -1;
    read(partition, offset, offset + 1, [&](RdKafka::Message& m) {
      ts = m.timestamp().timestamp;
      return false;
    });
    if (ts < 0)
      throw std::runtime_error("could not read " + topic_ + "[" + std::to_string(partition) + "]@" +
                               std::to_string(offset));
    return ts;
  }

  RdKafka::KafkaConsumer& c_;
  std::string topic_;
  std::string err_;
};

TimeMs parse_time_arg(const Args& args, const std::string& name) {
  TimeMs t = 0;
  if (!parse_iso8601(args.get(name), t))
    throw ArgError("replay: --" + name + " expects an ISO 8601 time such as 2026-01-05T00:10:00Z, got '" +
                   args.get(name) + "'");
  return t;
}

}  // namespace

int replay_main(int argc, char** argv) {
  Args args("replay", "selfheal replay --topic T --from TIME [--to TIME] [--group G] [--config FILE] [--set k=v]");
  args.option("topic", "T", "topic to replay (without kafka.topic_prefix), e.g. features");
  args.option("from", "TIME", "event time (ISO 8601) to replay from");
  args.option("to", "TIME", "event time (ISO 8601) to stop before; printing only (default: the end)");
  args.option("group", "G", "consumer group to rewind to --from (its members must be stopped); "
                            "without it the events are printed as JSON lines");
  args.option("config", "FILE", "YAML configuration (kafka.* keys)");
  args.repeated("set", "PATH=VALUE", "override one configuration key");
  if (!args.parse(argc, argv)) return 0;
  if (!args.has("topic")) throw ArgError("replay: --topic is required; see `selfheal replay --help`");
  if (!args.has("from")) throw ArgError("replay: --from is required; see `selfheal replay --help`");
  const TimeMs from = parse_time_arg(args, "from");
  const bool bounded = args.has("to");
  const TimeMs to = bounded ? parse_time_arg(args, "to") : 0;
  if (bounded && to <= from) throw ArgError("replay: --to must be after --from");
  if (bounded && args.has("group"))
    throw ArgError("replay: --to cannot be used with --group: a rewound group re-processes from --from to the "
                   "end of the topic (Kafka cannot stop a group at a time); use --to without --group to print a slice");

  Config config = Config::load(config_schema(), args.get("config"), args.all("set"));
  KafkaOptions o = kafka_options_from_config(config);
  const std::string topic = o.topic_prefix + args.get("topic");
  const bool rewind = args.has("group");
  const std::string group = rewind ? args.get("group") : "selfheal-replay-" + std::to_string(::getpid());
  auto consumer = make_consumer(o, group);
  Partitions parts(*consumer, topic);
  const bool progress = ::isatty(STDERR_FILENO);

  if (rewind) {
    std::vector<RdKafka::TopicPartition*> commit;
    std::vector<RdKafka::TopicPartition*> before;
    for (int p : parts.list()) {
      commit.push_back(RdKafka::TopicPartition::create(topic, p, parts.offset_for_time(p, from)));
      before.push_back(RdKafka::TopicPartition::create(topic, p));
    }
    consumer->committed(before, 10000);
    // Commit as a member of G: brokers refuse offsets from outside an active group, and a member
    // that holds every partition proves no other member is running.
    if (RdKafka::ErrorCode e = consumer->subscribe({topic}); e != RdKafka::ERR_NO_ERROR) {
      RdKafka::TopicPartition::destroy(commit);
      RdKafka::TopicPartition::destroy(before);
      throw std::runtime_error("joining group " + group + ": " + RdKafka::err2str(e));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::size_t assigned = 0;
    while (assigned < commit.size() && std::chrono::steady_clock::now() < deadline) {
      std::unique_ptr<RdKafka::Message> ignored(consumer->consume(100));
      std::vector<RdKafka::TopicPartition*> now;
      if (consumer->assignment(now) == RdKafka::ERR_NO_ERROR) assigned = now.size();
      RdKafka::TopicPartition::destroy(now);
    }
    if (assigned < commit.size()) {
      RdKafka::TopicPartition::destroy(commit);
      RdKafka::TopicPartition::destroy(before);
      consumer->close();
      throw std::runtime_error("group " + group + " could not be rewound: it has other members holding " +
                               std::to_string(commit.size() - assigned) + " partition(s) of " + topic +
                               " (stop the services consuming as " + group + " first)");
    }
    RdKafka::ErrorCode e = consumer->commitSync(commit);
    std::string report;
    for (std::size_t i = 0; i < commit.size(); ++i) {
      const std::int64_t old = before[i]->offset();
      report += "  " + topic + "[" + std::to_string(commit[i]->partition()) + "]: " +
                (old >= 0 ? std::to_string(old) : std::string("none")) + " -> " + std::to_string(commit[i]->offset()) +
                "\n";
    }
    RdKafka::TopicPartition::destroy(commit);
    RdKafka::TopicPartition::destroy(before);
    consumer->close();
    if (e != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("group " + group + " could not be rewound: " + RdKafka::err2str(e) +
                               " (stop the services consuming as " + group + " first)");
    std::printf("group %s rewound to %s on %s; it re-processes from there when it next starts:\n%s", group.c_str(),
                format_iso8601(from).c_str(), topic.c_str(), report.c_str());
    return 0;
  }

  std::size_t printed = 0, undecodable = 0;
  for (int p : parts.list()) {
    const std::int64_t first = parts.offset_for_time(p, from);
    const std::int64_t end = bounded ? parts.offset_for_time(p, to) : parts.watermarks(p).second;
    parts.read(p, first, end, [&](RdKafka::Message& m) {
      std::string_view payload(static_cast<const char*>(m.payload()), m.len());
      DecodeResult r = decode_event(payload);
      if (!r.ok) {
        ++undecodable;
        std::fprintf(stderr, "replay: %s[%d]@%lld is not a selfheal event (%s); skipped\n", topic.c_str(), p,
                     static_cast<long long>(m.offset()), r.error.c_str());
        return true;
      }
      std::cout << payload << '\n';
      if (++printed % 10000 == 0 && progress) std::fprintf(stderr, "\rreplay: %zu events", printed);
      return true;
    });
  }
  std::cout.flush();
  consumer->close();
  if (progress) std::fputc('\n', stderr);
  std::fprintf(stderr, "replay: %zu event(s) of %s from %s%s%s%s\n", printed, topic.c_str(),
               format_iso8601(from).c_str(), bounded ? " to " : "", bounded ? format_iso8601(to).c_str() : "",
               undecodable ? (", " + std::to_string(undecodable) + " undecodable skipped").c_str() : "");
  return 0;
}

}  // namespace selfheal::cli
