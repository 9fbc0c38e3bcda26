// Online log template mining: a message's tokens are masked (numbers, hex, IPs, UUIDs, paths,
// durations become <*>), then the message joins the most similar template of the same shape
// (token count and first token, as in Drain's fixed-depth tree) or starts a new one. Joining a
// template whose tokens differ turns those positions into <*> (the template "changes").
//
// Template ids are a 64-bit FNV-1a hash of the template text, so the same template has the same id
// in every process and after every restart; snapshot()/restore() keep the learned templates (and
// thus the same grouping) across restarts. Memory is bounded: past `max_templates`, the least
// recently used templates are evicted in batches (counted in evictions()).
//
// Threading: not thread-safe; one miner belongs to one thread (the log-processor service).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace selfheal::logproc {

// 64-bit FNV-1a: the template id of a template text.
std::uint64_t template_id_of(std::string_view template_text);

struct MinerOptions {
  double similarity = 0.7;              // share of equal constant tokens needed to join a template
  std::size_t max_templates = 50'000;   // past this, the least recently used are evicted
  std::size_t max_tokens = 256;         // tokens beyond this are folded into the last one
};

// The outcome of adding one message.
struct MineResult {
  std::uint64_t template_id = 0;
  std::uint64_t cluster = 0;      // internal handle, stable for the miner's lifetime
  bool is_new = false;            // the template was created by this message
  bool changed = false;           // an existing template generalised (its text and id changed)
  std::uint64_t previous_id = 0;  // when changed: the id before
};

class TemplateMiner {
 public:
  explicit TemplateMiner(MinerOptions options = {});
  ~TemplateMiner();
  TemplateMiner(const TemplateMiner&) = delete;
  TemplateMiner& operator=(const TemplateMiner&) = delete;

  // Mines one message; never throws on any input (bytes are treated as opaque).
  MineResult add(std::string_view message);

  // The current template text of a cluster handle (empty for an evicted or unknown handle).
  const std::string& template_text(std::uint64_t cluster) const;
  std::uint64_t template_id(std::uint64_t cluster) const;
  // The parameters of `message` under template `cluster`: the message tokens where the template
  // has a <*>, in order.
  std::vector<std::string> params(std::uint64_t cluster, std::string_view message) const;

  std::size_t size() const;
  std::uint64_t evictions() const { return evictions_; }
  std::uint64_t messages() const { return messages_; }
  // Approximate heap bytes held by the templates and their index.
  std::size_t memory_bytes() const;

  // Text snapshot: one template per line ("count<TAB>template"). restore() replaces the state and
  // returns false (leaving the miner empty) with `error` set on malformed input.
  void snapshot(std::ostream& out) const;
  bool restore(std::istream& in, std::string& error);
  bool save_file(const std::string& path, std::string& error) const;
  bool load_file(const std::string& path, std::string& error);

  // One template at a time, in the snapshot's line encoding (what a service's keyed state carries):
  // "count<TAB>template" of a cluster handle; empty for an evicted or unknown handle.
  std::string snapshot_line(std::uint64_t cluster) const;
  bool contains(std::uint64_t cluster) const { return clusters_.contains(cluster); }
  // Parses one snapshot line into its count and template tokens; empty on success, else what is wrong.
  std::string parse_snapshot_line(std::string_view line, std::uint64_t& count, std::vector<std::string>& tokens) const;
  // Adds a template (tokens from parse_snapshot_line) unless one with the same text is known, which
  // keeps its own count and recency; returns its cluster handle either way. May evict (max_templates).
  std::uint64_t merge_template(std::vector<std::string> tokens, std::uint64_t count);

 private:
  struct Cluster;
  struct Group;
  void evict_least_recently_used();
  Cluster* insert_cluster(std::vector<std::string> tokens, std::uint64_t count);

  MinerOptions opt_;
  std::unordered_map<std::string, std::unique_ptr<Group>> groups_;  // key: shape of the message
  std::unordered_map<std::uint64_t, std::unique_ptr<Cluster>> clusters_;
  std::uint64_t next_cluster_ = 1;
  std::uint64_t clock_ = 0;  // advances per message: recency for eviction
  std::uint64_t evictions_ = 0;
  std::uint64_t messages_ = 0;
  // Scratch buffers reused across add() calls so the hot path does not allocate.
  std::vector<std::string_view> raw_tokens_;
  std::vector<std::string> masked_tokens_;
  std::string key_;
};

// Masks the variable parts of one whitespace-free token: returns the token unchanged, "<*>", or a
// partly masked form such as "(uid=<*>)". Exposed for tests.
std::string mask_token(std::string_view token);

// Splits on ASCII whitespace.
void split_tokens(std::string_view s, std::vector<std::string_view>& out);

}  // namespace selfheal::logproc
