#include <gtest/gtest.h>

#include "classifier/call_graph.hpp"

namespace selfheal::classifier {
namespace {

TEST(CallGraph, DemoShopReachability) {
  auto g = CallGraph::parse(CallGraph::demo_shop_edges());
  EXPECT_TRUE(g.calls_transitively("frontend", "postgres"));
  EXPECT_TRUE(g.calls_transitively("search", "postgres"));  // via inventory
  EXPECT_FALSE(g.calls_transitively("postgres", "orders"));
  EXPECT_FALSE(g.related("payments", "search"));           // siblings, neither calls the other
  EXPECT_TRUE(g.related("payments", "frontend"));
  EXPECT_EQ(g.callers("postgres"), (std::set<std::string>{"inventory", "orders", "payments"}));
  EXPECT_EQ(g.callees("search"), (std::set<std::string>{"cache", "inventory"}));
}

TEST(CallGraph, MalformedEntriesAreNamed) {
  try {
    CallGraph::parse({"a->b", "c=>d"});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "call graph entry 'c=>d': expected caller->callee");
  }
  EXPECT_THROW(CallGraph::parse({"a->b|"}), std::invalid_argument);
  EXPECT_THROW(CallGraph::parse({"a->a"}), std::invalid_argument);
  EXPECT_THROW(CallGraph::parse({"->a"}), std::invalid_argument);
}

TEST(CallGraph, CyclesDoNotLoop) {
  auto g = CallGraph::parse({"a->b", "b->c", "c->a"});
  EXPECT_TRUE(g.calls_transitively("a", "c"));
  EXPECT_TRUE(g.calls_transitively("c", "b"));
  EXPECT_FALSE(g.calls_transitively("a", "z"));
}

}  // namespace
}  // namespace selfheal::classifier
