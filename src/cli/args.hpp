// A small command-line parser for selfheal's subcommands: --flag, --option VALUE (or
// --option=VALUE), repeated options, and positionals. Errors name the argument and say what to do.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace selfheal::cli {

class ArgError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // `usage` is printed by --help; `command` names the subcommand in errors.
  Args(std::string command, std::string usage) : command_(std::move(command)), usage_(std::move(usage)) {}

  Args& flag(const std::string& name, const std::string& help);
  Args& option(const std::string& name, const std::string& value_name, const std::string& help,
               const std::string& default_value = {});
  Args& repeated(const std::string& name, const std::string& value_name, const std::string& help);
  Args& positional(const std::string& name, const std::string& help, bool required = true);

  // Parses argv[first..argc). Returns false when --help was asked (help already printed).
  // Throws ArgError on unknown or malformed arguments.
  bool parse(int argc, char** argv, int first = 1);

  bool has(const std::string& name) const;
  std::string get(const std::string& name) const;
  double get_double(const std::string& name) const;
  long long get_int(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;
  std::string help() const;

 private:
  struct Spec {
    std::string name, value_name, help, default_value;
    bool takes_value = false, repeated = false, positional = false, required = false;
  };
  const Spec* find(const std::string& name) const;

  std::string command_, usage_;
  std::vector<Spec> specs_;
  std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace selfheal::cli
