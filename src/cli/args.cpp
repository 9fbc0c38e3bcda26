#include "cli/args.hpp"

#include <cstdio>
#include <cstdlib>

namespace selfheal::cli {

Args& Args::flag(const std::string& name, const std::string& help) {
  specs_.push_back(Spec{name, "", help, "", false, false, false, false});
  return *this;
}
Args& Args::option(const std::string& name, const std::string& value_name, const std::string& help,
                   const std::string& default_value) {
  specs_.push_back(Spec{name, value_name, help, default_value, true, false, false, false});
  return *this;
}
Args& Args::repeated(const std::string& name, const std::string& value_name, const std::string& help) {
  specs_.push_back(Spec{name, value_name, help, "", true, true, false, false});
  return *this;
}
Args& Args::positional(const std::string& name, const std::string& help, bool required) {
  specs_.push_back(Spec{name, name, help, "", true, false, true, required});
  return *this;
}

const Args::Spec* Args::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

bool Args::parse(int argc, char** argv, int first) {
  std::vector<const Spec*> positionals;
  for (const auto& s : specs_)
    if (s.positional) positionals.push_back(&s);
  std::size_t next_positional = 0;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      const Spec* s = find(name);
      if (!s || s->positional)
        throw ArgError(command_ + ": unknown option --" + name + "; see `selfheal " + command_ + " --help`");
      if (!s->takes_value) {
        if (inline_value) throw ArgError(command_ + ": --" + name + " takes no value");
        values_[name].push_back("true");
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= argc) throw ArgError(command_ + ": --" + name + " needs a value (" + s->value_name + ")");
        value = argv[++i];
      }
      if (!s->repeated && values_.count(name))
        throw ArgError(command_ + ": --" + name + " given twice");
      values_[name].push_back(value);
      continue;
    }
    if (next_positional >= positionals.size())
      throw ArgError(command_ + ": unexpected argument '" + a + "'; see `selfheal " + command_ + " --help`");
    values_[positionals[next_positional++]->name].push_back(a);
  }
  for (; next_positional < positionals.size(); ++next_positional)
    if (positionals[next_positional]->required)
      throw ArgError(command_ + ": missing " + positionals[next_positional]->name + "; see `selfheal " +
                     command_ + " --help`");
  return true;
}

bool Args::has(const std::string& name) const { return values_.count(name) > 0; }

std::string Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end() && !it->second.empty()) return it->second.back();
  const Spec* s = find(name);
  return s ? s->default_value : std::string();
}

double Args::get_double(const std::string& name) const {
  std::string v = get(name);
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end) throw ArgError(command_ + ": --" + name + " expects a number, got '" + v + "'");
  return d;
}

long long Args::get_int(const std::string& name) const {
  std::string v = get(name);
  char* end = nullptr;
  long long d = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end) throw ArgError(command_ + ": --" + name + " expects an integer, got '" + v + "'");
  return d;
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::help() const {
  std::string out = "usage: " + usage_ + "\n";
  for (const auto& s : specs_) {
    std::string left = s.positional ? "  " + s.name
                                    : "  --" + s.name + (s.takes_value ? " " + s.value_name : "");
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    out += left + s.help;
    if (!s.default_value.empty()) out += " (default " + s.default_value + ")";
    if (s.repeated) out += " (repeatable)";
    out += "\n";
  }
  return out;
}

}  // namespace selfheal::cli
