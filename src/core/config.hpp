// Configuration: every key is declared once (path, type, default, description) by the module that
// owns it; the same declarations validate the YAML file, map environment variables and generate the
// documented defaults in config/selfheal.yaml (`selfheal config defaults`).
//
// Precedence: declared default < YAML file < environment (SELFHEAL_<PATH>, dots and dashes as
// underscores, upper case: api.listen -> SELFHEAL_API_LISTEN) < --set path=value on the command line.
// Unknown keys and wrong types are refused with the key's path and the reason.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace selfheal {

enum class ConfigType { String, Int, Double, Bool, Duration, StringList };

struct ConfigKey {
  std::string path;           // "api.listen"
  ConfigType type;
  std::string default_value;  // as written in YAML; StringList as comma-separated
  std::string description;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConfigSchema {
 public:
  // Declares a key; declaring the same path twice is a programming error (throws).
  void add(std::string path, ConfigType type, std::string default_value, std::string description);
  const ConfigKey* find(const std::string& path) const;
  const std::vector<ConfigKey>& keys() const { return keys_; }
  // The documented YAML of every default, grouped by section: what config/selfheal.yaml holds.
  std::string render_defaults_yaml() const;
  static std::string env_name(const std::string& path);

 private:
  std::vector<ConfigKey> keys_;
  std::map<std::string, std::size_t> index_;
};

class Config {
 public:
  // Defaults only.
  explicit Config(const ConfigSchema& schema);

  // Loads a YAML file (empty path: defaults only), then the environment, then `overrides`
  // ("path=value"). Throws ConfigError naming the key and the reason.
  static Config load(const ConfigSchema& schema, const std::string& yaml_path,
                     const std::vector<std::string>& overrides = {}, bool use_environment = true);
  static Config from_yaml_text(const ConfigSchema& schema, const std::string& yaml_text,
                               const std::string& source_name = "<text>");

  // Typed getters; asking for an undeclared key or with the wrong type is a programming error.
  std::string str(const std::string& path) const;
  std::int64_t integer(const std::string& path) const;
  double number(const std::string& path) const;
  bool boolean(const std::string& path) const;
  std::int64_t duration_ms(const std::string& path) const;
  std::vector<std::string> strings(const std::string& path) const;

  // Sets a key from its text form, validating it; throws ConfigError.
  void set(const std::string& path, const std::string& value, const std::string& source);
  // Where each key's value came from ("default", file name, "env SELFHEAL_X", "--set").
  const std::string& source_of(const std::string& path) const;
  const ConfigSchema& schema() const { return *schema_; }

 private:
  const ConfigKey& key(const std::string& path, ConfigType expected) const;
  void apply_yaml(const std::string& text, const std::string& source_name);

  const ConfigSchema* schema_;
  std::map<std::string, std::string> values_;  // validated text form
  std::map<std::string, std::string> sources_;
};

}  // namespace selfheal
