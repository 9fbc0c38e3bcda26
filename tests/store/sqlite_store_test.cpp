// What only SqliteStore does: WAL mode, creating the file's directory, clear errors for a file that
// is not a database, and the factory's default. The Store contract itself (round trips, upserts,
// filters, migrations, concurrency) is in store_behaviour_test.cpp, run against both backends.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "core/config.hpp"
#include "store/sqlite_store.hpp"
#include "store/store_factory.hpp"
#include "store_test_support.hpp"

namespace selfheal {
namespace {

using namespace selfheal::testing;

TEST(SqliteStore, FileSurvivesReopenInWalModeAndCreatesParentDirectory) {
  TempDir dir;
  const std::string path = dir.file("nested/deeper/selfheal.db");
  {
    SqliteStore store(path);
    store.put_incident(make_incident("inc-1", 2, 1000, "orders"));
    EXPECT_EQ(store.schema_version(), sqlite_migrations().back().version);
  }
  SqliteStore again(path);
  auto i = again.get_incident("inc-1");
  ASSERT_TRUE(i);
  EXPECT_EQ(i->revision, 2u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(SqliteStore, ClearErrorWhenTheFileCannotBeOpened) {
  TempDir dir;
  const std::string not_a_db = dir.file("garbage.db");
  { std::FILE* f = std::fopen(not_a_db.c_str(), "w"); std::fputs("this is not sqlite, just text that is long enough to be a header..........................................", f); std::fclose(f); }
  try {
    SqliteStore s(not_a_db);
    FAIL() << "opened garbage";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("store.sqlite_path"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(not_a_db), std::string::npos) << e.what();
  }
  // A path below a regular file cannot have its directory created.
  try {
    SqliteStore s(not_a_db + "/sub/x.db");
    FAIL() << "created a directory below a file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("store.sqlite_path"), std::string::npos) << e.what();
  }
}

TEST(SqliteStore, FactoryOpensSqliteByDefaultAndRefusesUnknownBackends) {
  ConfigSchema schema;
  declare_store_config(schema);
  Config config(schema);
  EXPECT_EQ(config.str("store.backend"), "sqlite");
  config.set("store.sqlite_path", ":memory:", "test");
  auto store = open_store(config);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), sqlite_migrations().back().version);
  config.set("store.backend", "none", "test");
  EXPECT_EQ(open_store(config), nullptr);
  config.set("store.backend", "mongodb", "test");
  try {
    open_store(config);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("store.backend"), std::string::npos);
  }
}

}  // namespace
}  // namespace selfheal
