// config/selfheal.yaml is the documentation of every key: it must be exactly what the declarations
// generate, and it must load.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "app/app.hpp"

namespace selfheal {
namespace {

TEST(ConfigFile, CommittedDefaultsMatchTheDeclarations) {
  std::ifstream in("config/selfheal.yaml");
  ASSERT_TRUE(in) << "run from the repo root; config/selfheal.yaml must exist";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), config_schema().render_defaults_yaml())
      << "config/selfheal.yaml is stale: regenerate it with `build/release/bin/selfheal config defaults > "
         "config/selfheal.yaml`";
  EXPECT_NO_THROW(Config::load(config_schema(), "config/selfheal.yaml", {}, /*use_environment=*/false));
}

TEST(ConfigFile, EveryKeyIsDocumented) {
  for (const auto& k : config_schema().keys()) {
    EXPECT_FALSE(k.description.empty()) << k.path;
    EXPECT_EQ(k.path.find(' '), std::string::npos) << k.path;
  }
}

}  // namespace
}  // namespace selfheal
