#include "logproc/template_miner.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <istream>
#include <ostream>
#include <sstream>

namespace selfheal::logproc {
namespace {

constexpr std::string_view kWildcard = "<*>";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool has_digit(std::string_view s) {
  for (char c : s)
    if (is_digit(c)) return true;
  return false;
}

// Splits a token into masking segments: keys and values of "k=v", bracketed parts, list items.
bool is_segment_delimiter(char c) {
  switch (c) {
    case '=': case '(': case ')': case '[': case ']': case '{': case '}': case ',': case ';':
    case '"': case '\'': case ':': case '<': case '>':
      return true;
    default:
      return false;
  }
}

// A file system path or a URL: variable by nature even without digits.
bool looks_like_path(std::string_view t) {
  if (t.find("://") != std::string_view::npos) return true;
  if (t.size() >= 2 && t[0] == '/') {
    std::size_t slashes = std::count(t.begin(), t.end(), '/');
    return slashes >= 2;
  }
  return false;
}

// What stays after masking a value made of several numbers (IPs with ports, times, versions):
// one parameter, not a string of them.
bool only_wildcards_and_joiners(std::string_view s) {
  std::size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    if (s.substr(i, 3) == kWildcard) { i += 3; any = true; continue; }
    char c = s[i];
    if (c == ':' || c == '.' || c == '/' || c == '-' || c == '_' || c == '#' || c == '+') { ++i; continue; }
    return false;
  }
  return any;
}

std::string join_tokens(const std::vector<std::string>& tokens) {
  std::string out;
  std::size_t n = 0;
  for (const auto& t : tokens) n += t.size() + 1;
  out.reserve(n);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i) out.push_back(' ');
    out += tokens[i];
  }
  return out;
}

}  // namespace

std::uint64_t template_id_of(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

void split_tokens(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    while (i < n && is_space(s[i])) ++i;
    if (i >= n) break;
    std::size_t j = i;
    while (j < n && !is_space(s[j])) ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
}

namespace {
// Day and month names are parts of timestamps written inside messages ("at Sun Jul 10 03:55:17").
bool is_calendar_word(std::string_view t) {
  if (t.size() != 3) return false;
  static constexpr std::string_view kWords[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
                                                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                                "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (auto w : kWords)
    if (t == w) return true;
  return false;
}

// Names that end in one digit (ssh2, eth0, ee0, ipv6) are identifiers of a kind, not values.
bool is_versioned_name(std::string_view t) {
  if (t.size() < 3 || t.size() > 8 || !is_digit(t.back())) return false;
  for (std::size_t i = 0; i + 1 < t.size(); ++i) {
    const char c = t[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

// A name with a digit inside it (jk2_init, log4j, Slf4jLogger) rather than a value: starts with a
// letter, each digit follows a letter, and digits are a small part of it. "node-1", "blk_1" and
// "R23" stay values.
bool is_name_with_digits(std::string_view t) {
  if (t.empty() || !std::isalpha(static_cast<unsigned char>(t[0]))) return false;
  std::size_t digits = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!is_digit(t[i])) continue;
    ++digits;
    if (!std::isalpha(static_cast<unsigned char>(t[i - 1]))) return false;
  }
  return digits * 4 <= t.size();
}

bool is_value_segment(std::string_view seg) {
  if (looks_like_path(seg)) return true;
  if (!has_digit(seg)) return false;
  return !is_versioned_name(seg) && !is_name_with_digits(seg);
}

void mask_into(std::string_view token, std::string& out) {
  out.clear();
  if (!has_digit(token)) {
    if (looks_like_path(token) || is_calendar_word(token)) out.assign(kWildcard);
    else out.assign(token.data(), token.size());
    return;
  }
  if (is_versioned_name(token) || is_name_with_digits(token)) {
    out.assign(token.data(), token.size());
    return;
  }
  // Trailing punctuation belongs to the sentence, not the value ("from 10.0.0.1:" -> "<*>:").
  std::string_view tail;
  while (!token.empty() && (token.back() == ':' || token.back() == ',' || token.back() == ';')) {
    tail = std::string_view(token.data() + token.size() - 1, tail.size() + 1);
    token.remove_suffix(1);
  }
  std::size_t i = 0;
  while (i < token.size()) {
    if (is_segment_delimiter(token[i])) {
      out.push_back(token[i]);
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < token.size() && !is_segment_delimiter(token[j])) ++j;
    std::string_view seg = token.substr(i, j - i);
    if (is_value_segment(seg)) out += kWildcard;
    else out += seg;
    i = j;
  }
  if (only_wildcards_and_joiners(out)) out.assign(kWildcard);
  out.append(tail);
}

// Where a kept prefix may end and a kept suffix may begin: key, bracket and list punctuation.
bool is_structure_char(char c) {
  switch (c) {
    case '=': case ':': case '(': case ')': case '[': case ']': case '{': case '}': case ',': case ';': case '/':
      return true;
    default:
      return false;
  }
}

// Whether template token `t` (which holds a <*>) accepts message token `m`: m begins with what
// precedes t's first <*> and ends with what follows it.
bool pattern_accepts(std::string_view t, std::string_view m) {
  const std::size_t w = t.find(kWildcard);
  if (w == std::string_view::npos) return t == m;
  const std::string_view pre = t.substr(0, w), post = t.substr(w + kWildcard.size());
  return m.size() >= pre.size() + post.size() && m.starts_with(pre) && m.ends_with(post);
}

// The most specific token covering both `t` and `m` that keeps key and bracket structure:
// "rhost=a" + "rhost=b" -> "rhost=<*>", "(a.b)" + "()" -> "(<*>)", otherwise "<*>".
std::string generalise(std::string_view t, std::string_view m) {
  std::size_t p = 0;
  const std::size_t limit = std::min(t.size(), m.size());
  while (p < limit && t[p] == m[p]) ++p;
  while (p > 0 && !is_structure_char(t[p - 1])) --p;
  std::size_t s = 0;
  while (s < limit - p && t[t.size() - 1 - s] == m[m.size() - 1 - s]) ++s;
  while (s > 0 && !is_structure_char(t[t.size() - s])) --s;
  // Structure characters are never part of "<*>", so neither side can cut a wildcard in half.
  const std::string_view pre = t.substr(0, p), post = t.substr(t.size() - s);
  if (pre.empty() && post.empty()) return std::string(kWildcard);
  std::string out(pre);
  out += kWildcard;
  out += post;
  return out;
}
}  // namespace

std::string mask_token(std::string_view token) {
  std::string out;
  mask_into(token, out);
  return out;
}

struct TemplateMiner::Cluster {
  std::uint64_t handle = 0;
  std::vector<std::string> tokens;
  std::string text;
  std::uint64_t id = 0;
  std::uint64_t count = 0;
  std::uint64_t last_used = 0;
  Group* group = nullptr;
};

struct TemplateMiner::Group {
  std::string key;
  std::vector<Cluster*> clusters;
};

TemplateMiner::TemplateMiner(MinerOptions options) : opt_(options) {
  if (opt_.max_tokens == 0) opt_.max_tokens = 1;
  if (opt_.max_templates == 0) opt_.max_templates = 1;
}
TemplateMiner::~TemplateMiner() = default;

namespace {
// The shape a message is filed under: its token count and its first token (a variable first token
// files under <*>).
void shape_key(const std::vector<std::string>& tokens, std::size_t n, std::string& key) {
  key.clear();
  key += std::to_string(n);
  key.push_back('\x1f');
  if (n > 0) {
    const std::string& first = tokens[0];
    if (first.find(kWildcard) != std::string::npos) key += kWildcard;
    else key += first;
  }
}
}  // namespace

TemplateMiner::Cluster* TemplateMiner::insert_cluster(std::vector<std::string> tokens, std::uint64_t count) {
  shape_key(tokens, tokens.size(), key_);
  auto& group = groups_[key_];
  if (!group) {
    group = std::make_unique<Group>();
    group->key = key_;
  }
  auto c = std::make_unique<Cluster>();
  c->handle = next_cluster_++;
  c->tokens = std::move(tokens);
  c->text = join_tokens(c->tokens);
  c->id = template_id_of(c->text);
  c->count = count;
  c->last_used = ++clock_;
  c->group = group.get();
  Cluster* raw = c.get();
  group->clusters.push_back(raw);
  clusters_.emplace(raw->handle, std::move(c));
  if (clusters_.size() > opt_.max_templates) evict_least_recently_used();
  return raw;
}

MineResult TemplateMiner::add(std::string_view message) {
  ++messages_;
  split_tokens(message, raw_tokens_);
  std::size_t n = raw_tokens_.size();
  const bool folded = n > opt_.max_tokens;
  if (folded) {
    // Fold the tail into one token so a huge line costs a bounded template.
    const char* tail_begin = raw_tokens_[opt_.max_tokens - 1].data();
    const char* tail_end = raw_tokens_.back().data() + raw_tokens_.back().size();
    raw_tokens_[opt_.max_tokens - 1] = std::string_view(tail_begin, static_cast<std::size_t>(tail_end - tail_begin));
    raw_tokens_.resize(opt_.max_tokens);
    n = opt_.max_tokens;
  }
  if (masked_tokens_.size() < n) masked_tokens_.resize(n);
  for (std::size_t i = 0; i < n; ++i) mask_into(raw_tokens_[i], masked_tokens_[i]);
  // The folded tail holds whitespace: it is one parameter, so templates stay whitespace-free.
  if (folded) masked_tokens_[n - 1].assign(kWildcard);

  shape_key(masked_tokens_, n, key_);
  auto git = groups_.find(key_);
  MineResult result;
  if (git != groups_.end()) {
    Cluster* best = nullptr;
    double best_sim = -1;
    std::size_t best_wild = 0;
    for (Cluster* c : git->second->clusters) {
      std::size_t equal = 0, wild = 0, both_wild = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::string& tt = c->tokens[i];
        const bool msg_wild = masked_tokens_[i] == kWildcard;
        if (tt == kWildcard) {
          ++wild;
          if (msg_wild) ++both_wild;
        } else if (tt == masked_tokens_[i]) {
          ++equal;
        } else if (tt.find(kWildcard) != std::string::npos && pattern_accepts(tt, masked_tokens_[i])) {
          ++wild;
          ++both_wild;
        }
      }
      // Positions where both sides hold a parameter prove nothing either way, so they are left
      // out; this lets value-heavy messages join without letting short ones with one different
      // word ("Link ok" / "Link error") merge.
      const std::size_t compared = n - both_wild;
      const double sim = compared == 0 ? 1.0 : static_cast<double>(equal) / static_cast<double>(compared);
      if (sim > best_sim || (sim == best_sim && wild > best_wild)) {
        best = c;
        best_sim = sim;
        best_wild = wild;
      }
    }
    if (best && best_sim >= opt_.similarity) {
      best->count++;
      best->last_used = ++clock_;
      bool changed = false;
      for (std::size_t i = 0; i < n; ++i) {
        std::string& tt = best->tokens[i];
        if (tt == masked_tokens_[i] || tt == kWildcard) continue;
        if (tt.find(kWildcard) != std::string::npos && pattern_accepts(tt, masked_tokens_[i])) continue;
        std::string g = generalise(tt, masked_tokens_[i]);
        if (g != tt) {
          tt = std::move(g);
          changed = true;
        }
      }
      result.cluster = best->handle;
      if (changed) {
        result.changed = true;
        result.previous_id = best->id;
        best->text = join_tokens(best->tokens);
        best->id = template_id_of(best->text);
      }
      result.template_id = best->id;
      return result;
    }
  }
  std::vector<std::string> tokens(masked_tokens_.begin(), masked_tokens_.begin() + static_cast<std::ptrdiff_t>(n));
  Cluster* c = insert_cluster(std::move(tokens), 1);
  result.cluster = c->handle;
  result.template_id = c->id;
  result.is_new = true;
  return result;
}

void TemplateMiner::evict_least_recently_used() {
  // Evict a tenth at a time so a stream of ever-new templates costs O(log n) per message.
  std::vector<std::pair<std::uint64_t, Cluster*>> by_age;
  by_age.reserve(clusters_.size());
  for (auto& [h, c] : clusters_) by_age.emplace_back(c->last_used, c.get());
  const std::size_t target = opt_.max_templates - std::max<std::size_t>(1, opt_.max_templates / 10);
  const std::size_t drop = clusters_.size() > target ? clusters_.size() - target : 0;
  if (drop == 0) return;
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(drop - 1), by_age.end());
  for (std::size_t i = 0; i < drop; ++i) {
    Cluster* c = by_age[i].second;
    Group* g = c->group;
    auto& v = g->clusters;
    v.erase(std::find(v.begin(), v.end(), c));
    if (v.empty()) groups_.erase(g->key);
    clusters_.erase(c->handle);
    ++evictions_;
  }
}

const std::string& TemplateMiner::template_text(std::uint64_t cluster) const {
  static const std::string kEmpty;
  auto it = clusters_.find(cluster);
  return it == clusters_.end() ? kEmpty : it->second->text;
}

std::uint64_t TemplateMiner::template_id(std::uint64_t cluster) const {
  auto it = clusters_.find(cluster);
  return it == clusters_.end() ? 0 : it->second->id;
}

std::vector<std::string> TemplateMiner::params(std::uint64_t cluster, std::string_view message) const {
  std::vector<std::string> out;
  auto it = clusters_.find(cluster);
  if (it == clusters_.end()) return out;
  std::vector<std::string_view> tokens;
  split_tokens(message, tokens);
  const auto& tt = it->second->tokens;
  for (std::size_t i = 0; i < tokens.size() && i < tt.size(); ++i)
    if (tt[i].find(kWildcard) != std::string::npos) out.emplace_back(tokens[i]);
  return out;
}

std::size_t TemplateMiner::size() const { return clusters_.size(); }

std::size_t TemplateMiner::memory_bytes() const {
  std::size_t bytes = 0;
  for (const auto& [h, c] : clusters_) {
    bytes += sizeof(Cluster) + 48 /* hash node */ + c->text.capacity() + sizeof(void*);
    bytes += c->tokens.capacity() * sizeof(std::string);
    for (const auto& t : c->tokens)
      if (t.capacity() > 15) bytes += t.capacity();
  }
  for (const auto& [k, g] : groups_) bytes += sizeof(Group) + 48 + k.capacity() * 2 + g->clusters.capacity() * sizeof(void*);
  return bytes;
}

void TemplateMiner::snapshot(std::ostream& out) const {
  std::vector<const Cluster*> ordered;
  ordered.reserve(clusters_.size());
  for (const auto& [h, c] : clusters_) ordered.push_back(c.get());
  // Oldest first, so a restore rebuilds the same recency order.
  std::sort(ordered.begin(), ordered.end(), [](const Cluster* a, const Cluster* b) { return a->last_used < b->last_used; });
  out << "# selfheal template miner snapshot v1: count<TAB>template\n";
  for (const Cluster* c : ordered) out << c->count << '\t' << c->text << '\n';
}

std::string TemplateMiner::snapshot_line(std::uint64_t cluster) const {
  auto it = clusters_.find(cluster);
  if (it == clusters_.end()) return {};
  return std::to_string(it->second->count) + '\t' + it->second->text;
}

std::string TemplateMiner::parse_snapshot_line(std::string_view line, std::uint64_t& count,
                                               std::vector<std::string>& tokens) const {
  const auto tab = line.find('\t');
  count = 0;
  bool ok = tab != std::string_view::npos && tab > 0;
  for (std::size_t i = 0; ok && i < tab; ++i) {
    if (!is_digit(line[i]) || count > (UINT64_MAX - 9) / 10) ok = false;
    else count = count * 10 + static_cast<std::uint64_t>(line[i] - '0');
  }
  if (!ok) return "expected 'count<TAB>template', got '" + std::string(line.substr(0, 60)) + "'";
  std::vector<std::string_view> parts;
  split_tokens(line.substr(tab + 1), parts);
  if (parts.size() > opt_.max_tokens)
    return "template has " + std::to_string(parts.size()) + " tokens (at most " + std::to_string(opt_.max_tokens) +
           " allowed)";
  tokens.assign(parts.begin(), parts.end());
  return {};
}

std::uint64_t TemplateMiner::merge_template(std::vector<std::string> tokens, std::uint64_t count) {
  shape_key(tokens, tokens.size(), key_);
  if (auto git = groups_.find(key_); git != groups_.end()) {
    const std::string text = join_tokens(tokens);
    for (const Cluster* c : git->second->clusters)
      if (c->text == text) return c->handle;
  }
  return insert_cluster(std::move(tokens), count)->handle;
}

bool TemplateMiner::restore(std::istream& in, std::string& error) {
  groups_.clear();
  clusters_.clear();
  std::string line;
  std::size_t line_no = 0;
  std::vector<std::string> tokens;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::uint64_t count = 0;
    if (std::string why = parse_snapshot_line(line, count, tokens); !why.empty()) {
      error = "snapshot line " + std::to_string(line_no) + ": " + why;
      groups_.clear();
      clusters_.clear();
      return false;
    }
    insert_cluster(std::move(tokens), count);
  }
  return true;
}

bool TemplateMiner::save_file(const std::string& path, std::string& error) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) { error = "cannot write template snapshot '" + tmp + "'"; return false; }
    snapshot(f);
    if (!f.flush()) { error = "cannot write template snapshot '" + tmp + "'"; return false; }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename '" + tmp + "' to '" + path + "'";
    return false;
  }
  return true;
}

bool TemplateMiner::load_file(const std::string& path, std::string& error) {
  std::ifstream f(path);
  if (!f) { error = "cannot read template snapshot '" + path + "'"; return false; }
  return restore(f, error);
}

}  // namespace selfheal::logproc
