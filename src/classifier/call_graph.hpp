// The service call graph: who calls whom. The classifier uses it to group the alerts of one fault
// (a culprit and its callers) and to tell the culprit from its victims (callers of a slow or broken
// dependency suffer too, but the cause sits downstream).
//
// Threading: immutable after construction.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace selfheal::classifier {

class CallGraph {
 public:
  // Edges as "caller->callee" or "caller->callee1|callee2". Throws std::invalid_argument naming
  // the entry and the problem.
  static CallGraph parse(const std::vector<std::string>& edges);
  // The demo shop: frontend->orders,search; orders->payments,inventory,postgres; payments->postgres;
  // search->cache,inventory; inventory->postgres.
  static std::vector<std::string> demo_shop_edges();

  void add(const std::string& caller, const std::string& callee);
  const std::set<std::string>& callees(const std::string& s) const;
  const std::set<std::string>& callers(const std::string& s) const;
  // `from` reaches `to` by following calls (a path of one or more edges).
  bool calls_transitively(const std::string& from, const std::string& to) const;
  // Either one calls the other, directly or not, or they are the same service.
  bool related(const std::string& a, const std::string& b) const;
  bool empty() const { return callees_.empty(); }
  const std::set<std::string>& services() const { return services_; }

 private:
  std::map<std::string, std::set<std::string>> callees_;
  std::map<std::string, std::set<std::string>> callers_;
  std::set<std::string> services_;
};

}  // namespace selfheal::classifier
