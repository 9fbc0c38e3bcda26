// Log processor speed on one core: parse + template mining of HDFS-like lines (the target is
// >= 1,000,000 lines/s; Drain's Python reference runs near 10,000 lines/s), the miner alone, bytes
// per template, and memory under a stream of ever-new templates.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "logproc/log_parser.hpp"
#include "logproc/template_miner.hpp"

namespace {
using namespace selfheal::logproc;

// HDFS-like raw lines ("<date> <time> <pid> <level> <component>: <content>") drawn from the
// HDFS_2k templates with random blocks, IPs and sizes; seeded, so every run sees the same lines.
std::vector<std::string> hdfs_like_lines(std::size_t n) {
  std::mt19937_64 rng(42);
  auto num = [&](std::uint64_t hi) { return std::to_string(rng() % hi); };
  auto ip = [&] { return "10.251." + num(255) + "." + num(255) + ":" + num(65536); };
  auto blk = [&] { return "blk_" + std::string(rng() % 2 ? "-" : "") + std::to_string(rng() % 9'000'000'000'000'000'000ULL); };
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string head = "0811" + num(30) + " " + num(240000) + " " + num(5000) + " INFO ";
    switch (rng() % 8) {
      case 0: out.push_back(head + "dfs.DataNode$PacketResponder: PacketResponder " + num(3) + " for block " + blk() + " terminating"); break;
      case 1: out.push_back(head + "dfs.DataNode$PacketResponder: Received block " + blk() + " of size " + num(67108864) + " from /" + ip()); break;
      case 2: out.push_back(head + "dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: " + ip() + " is added to " + blk() + " size " + num(67108864)); break;
      case 3: out.push_back(head + "dfs.DataNode$DataXceiver: Receiving block " + blk() + " src: /" + ip() + " dest: /" + ip()); break;
      case 4: out.push_back(head + "dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /user/root/rand/_temporary/_task_200811092030_0001_m_000" + num(999) + "_0/part-00" + num(999) + ". " + blk()); break;
      case 5: out.push_back(head + "dfs.DataNode: " + ip() + " Served block " + blk() + " to /" + ip()); break;
      case 6: out.push_back(head + "dfs.FSDataset: Deleting block " + blk() + " file /mnt/hadoop/dfs/data/current/subdir" + num(64) + "/" + blk()); break;
      default: out.push_back(head + "dfs.DataNode$DataXceiver: " + ip() + ":Got exception while serving " + blk() + " to /" + ip() + ":"); break;
    }
  }
  return out;
}

void BM_ParseAndTemplate(benchmark::State& state) {
  const auto lines = hdfs_like_lines(100'000);
  LogParser parser;
  TemplateMiner miner;
  std::size_t i = 0;
  for (auto _ : state) {
    ParsedLine p = parser.parse(lines[i]);
    MineResult r = miner.add(p.message);
    benchmark::DoNotOptimize(r);
    if (++i == lines.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["templates"] = static_cast<double>(miner.size());
  state.counters["bytes_per_template"] = static_cast<double>(miner.memory_bytes()) / static_cast<double>(std::max<std::size_t>(1, miner.size()));
}
BENCHMARK(BM_ParseAndTemplate);

void BM_ParseOnly(benchmark::State& state) {
  const auto lines = hdfs_like_lines(100'000);
  LogParser parser;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parser.parse(lines[i]));
    if (++i == lines.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseOnly);

void BM_TemplateOnly(benchmark::State& state) {
  const auto lines = hdfs_like_lines(100'000);
  LogParser parser;
  std::vector<std::string> messages;
  for (const auto& l : lines) messages.push_back(parser.parse(l).message);
  TemplateMiner miner;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(miner.add(messages[i]));
    if (++i == messages.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TemplateOnly);

// Every message is a new template (new words): the cap keeps memory flat; reports bytes held.
void BM_EverNewTemplates(benchmark::State& state) {
  MinerOptions o;
  o.max_templates = static_cast<std::size_t>(state.range(0));
  TemplateMiner miner(o);
  std::uint64_t k = 0;
  std::string msg;
  std::size_t peak_bytes = 0;
  for (auto _ : state) {
    // A first word never seen before files the message under a new shape: always a new template.
    msg = "w";
    for (std::uint64_t v = ++k; v > 0; v /= 26) msg.push_back(static_cast<char>('a' + v % 26));
    msg += " happened on shard x";
    benchmark::DoNotOptimize(miner.add(msg));
    if ((k & 4095) == 0) peak_bytes = std::max(peak_bytes, miner.memory_bytes());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["templates"] = static_cast<double>(miner.size());
  state.counters["evictions"] = static_cast<double>(miner.evictions());
  state.counters["peak_bytes"] = static_cast<double>(peak_bytes);
  state.counters["bytes_per_template"] = static_cast<double>(miner.memory_bytes()) / static_cast<double>(std::max<std::size_t>(1, miner.size()));
}
BENCHMARK(BM_EverNewTemplates)->Arg(10'000);

}  // namespace

BENCHMARK_MAIN();
