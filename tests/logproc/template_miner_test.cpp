#include "logproc/template_miner.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace selfheal::logproc {
namespace {

TEST(MaskToken, MasksNumbersHexIpsUuidsPathsAndDurations) {
  EXPECT_EQ(mask_token("12345"), "<*>");
  EXPECT_EQ(mask_token("0x7fff12ab"), "<*>");
  EXPECT_EQ(mask_token("10.251.42.84:50010"), "<*>");
  EXPECT_EQ(mask_token("123e4567-e89b-12d3-a456-426614174000"), "<*>");
  EXPECT_EQ(mask_token("/var/log/app.log"), "<*>");
  EXPECT_EQ(mask_token("250ms"), "<*>");
  EXPECT_EQ(mask_token("(uid=0)"), "(uid=<*>)");
  EXPECT_EQ(mask_token("Jul"), "<*>");
}

TEST(MaskToken, KeepsWordsAndNamesWithOneTrailingDigit) {
  EXPECT_EQ(mask_token("terminating"), "terminating");
  EXPECT_EQ(mask_token("ssh2"), "ssh2");
  EXPECT_EQ(mask_token("eth0"), "eth0");
  EXPECT_EQ(mask_token("user="), "user=");
}

TEST(TemplateMiner, GroupsMessagesThatDifferInValuesAndReportsNewAndChanged) {
  TemplateMiner m;
  auto a = m.add("PacketResponder 1 for block blk_3886 terminating");
  EXPECT_TRUE(a.is_new);
  EXPECT_EQ(m.template_text(a.cluster), "PacketResponder <*> for block <*> terminating");
  auto b = m.add("PacketResponder 2 for block blk_-6952 terminating");
  EXPECT_FALSE(b.is_new);
  EXPECT_FALSE(b.changed);
  EXPECT_EQ(a.cluster, b.cluster);
  EXPECT_EQ(a.template_id, b.template_id);

  auto c = m.add("session opened for user root by (uid=0)");
  auto d = m.add("session opened for user news by (uid=9)");
  EXPECT_EQ(c.cluster, d.cluster);
  EXPECT_TRUE(d.changed);
  EXPECT_EQ(d.previous_id, c.template_id);
  EXPECT_NE(d.template_id, c.template_id);
  EXPECT_EQ(m.template_text(d.cluster), "session opened for user <*> by (uid=<*>)");
  EXPECT_EQ(d.template_id, template_id_of("session opened for user <*> by (uid=<*>)"));
  EXPECT_EQ(m.params(d.cluster, "session opened for user news by (uid=9)"),
            (std::vector<std::string>{"news", "(uid=9)"}));
}

TEST(TemplateMiner, KeepsShortMessagesThatDifferInAConstantApart) {
  TemplateMiner m;
  auto ok = m.add("Link ok");
  auto err = m.add("Link error");
  EXPECT_NE(ok.cluster, err.cluster);
  EXPECT_EQ(m.size(), 2u);
}

TEST(TemplateMiner, IdsAreTheSameInEveryProcess) {
  TemplateMiner a, b;
  EXPECT_EQ(a.add("Served block blk_1 to /10.0.0.1").template_id, b.add("Served block blk_99 to /10.0.0.2").template_id);
}

TEST(TemplateMiner, SnapshotRestoreKeepsTemplatesAndGrouping) {
  TemplateMiner m;
  m.add("session opened for user root by (uid=0)");
  auto t = m.add("session opened for user news by (uid=9)");
  m.add("Link ok");
  std::stringstream snap;
  m.snapshot(snap);

  TemplateMiner restored;
  std::string error;
  ASSERT_TRUE(restored.restore(snap, error)) << error;
  EXPECT_EQ(restored.size(), m.size());
  auto again = restored.add("session opened for user cyrus by (uid=12)");
  EXPECT_FALSE(again.is_new);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.template_id, t.template_id);
}

TEST(TemplateMiner, RestoreRejectsMalformedSnapshotNamingTheLine) {
  TemplateMiner m;
  std::stringstream bad("# header\n3\tok template\nnot-a-count template\n");
  std::string error;
  EXPECT_FALSE(m.restore(bad, error));
  EXPECT_NE(error.find("line 3"), std::string::npos) << error;
  EXPECT_EQ(m.size(), 0u);
}

TEST(TemplateMiner, MemoryStaysBoundedUnderEverNewTemplates) {
  MinerOptions o;
  o.max_templates = 1000;
  TemplateMiner m(o);
  std::size_t peak = 0;
  std::string last;
  for (int i = 0; i < 20000; ++i) {
    // Words never seen before, so each line is a new template.
    std::string w = "w";
    for (int k = i; k > 0; k /= 26) w.push_back(static_cast<char>('a' + k % 26));
    last = w + " happened " + w + "x";
    m.add(last);
    peak = std::max(peak, m.size());
  }
  EXPECT_LE(peak, 1000u);
  EXPECT_GT(m.evictions(), 18000u);
  // Eviction takes the least recently used: the latest template is still known.
  EXPECT_FALSE(m.add(last).is_new);
  // The first one was evicted long ago.
  EXPECT_TRUE(m.add("w happened wx").is_new);
}

TEST(TemplateMiner, HugeAndHostileMessagesCostBoundedTemplates) {
  MinerOptions o;
  o.max_tokens = 64;
  TemplateMiner m(o);
  std::string huge;
  for (int i = 0; i < 100000; ++i) huge += "tok ";
  auto r = m.add(huge);
  EXPECT_TRUE(r.is_new);
  EXPECT_LE(m.template_text(r.cluster).size(), huge.size());
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>(i * 37));
  m.add(junk);
  m.add("");
  EXPECT_GE(m.size(), 2u);
}

}  // namespace
}  // namespace selfheal::logproc
