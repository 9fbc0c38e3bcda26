#include "classifier/call_graph.hpp"

#include <deque>

namespace selfheal::classifier {

namespace {
std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}
const std::set<std::string> kNone;
}  // namespace

std::vector<std::string> CallGraph::demo_shop_edges() {
  return {"frontend->orders|search", "orders->payments|inventory|postgres", "payments->postgres",
          "search->cache|inventory", "inventory->postgres"};
}

CallGraph CallGraph::parse(const std::vector<std::string>& edges) {
  CallGraph g;
  for (const std::string& raw : edges) {
    std::string e = trim(raw);
    if (e.empty()) continue;
    auto arrow = e.find("->");
    if (arrow == std::string::npos)
      throw std::invalid_argument("call graph entry '" + e + "': expected caller->callee");
    std::string caller = trim(e.substr(0, arrow));
    if (caller.empty()) throw std::invalid_argument("call graph entry '" + e + "': caller is empty");
    std::string rest = e.substr(arrow + 2);
    std::size_t start = 0;
    while (start <= rest.size()) {
      std::size_t bar = rest.find('|', start);
      std::string callee = trim(rest.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
      if (callee.empty()) throw std::invalid_argument("call graph entry '" + e + "': a callee is empty");
      if (callee == caller) throw std::invalid_argument("call graph entry '" + e + "': a service cannot call itself");
      g.add(caller, callee);
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
  }
  return g;
}

void CallGraph::add(const std::string& caller, const std::string& callee) {
  callees_[caller].insert(callee);
  callers_[callee].insert(caller);
  services_.insert(caller);
  services_.insert(callee);
}

const std::set<std::string>& CallGraph::callees(const std::string& s) const {
  auto it = callees_.find(s);
  return it == callees_.end() ? kNone : it->second;
}

const std::set<std::string>& CallGraph::callers(const std::string& s) const {
  auto it = callers_.find(s);
  return it == callers_.end() ? kNone : it->second;
}

bool CallGraph::calls_transitively(const std::string& from, const std::string& to) const {
  std::set<std::string> seen;
  std::deque<std::string> queue{from};
  while (!queue.empty()) {
    std::string s = queue.front();
    queue.pop_front();
    for (const auto& c : callees(s)) {
      if (c == to) return true;
      if (seen.insert(c).second) queue.push_back(c);
    }
  }
  return false;
}

bool CallGraph::related(const std::string& a, const std::string& b) const {
  return a == b || calls_transitively(a, b) || calls_transitively(b, a);
}

}  // namespace selfheal::classifier
