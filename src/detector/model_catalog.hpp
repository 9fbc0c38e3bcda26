// Versioned model artifacts: every `*.json` file in the model directory is one model
// ({"name", "version", "kind", parameters...}). The catalog loads them, notices when a file changed
// (size or modification time) so a new version can be picked up without a restart, and keeps the
// last good version when a new file is broken.
//
// Threading: not synchronised; the anomaly-detector guards its catalog with its own mutex because
// the admin server's thread may ask for a reload.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace selfheal::detector {

struct ModelArtifact {
  std::string name;
  std::string version;
  std::string kind;   // "robust-baseline" | "nab-ensemble"
  std::string path;
  nlohmann::json body;  // the whole file
};

struct ReloadReport {
  std::vector<std::string> loaded;   // "name@version" newly loaded or changed
  std::vector<std::string> errors;   // "file: problem" (the previous version stays in use)
};

class ModelCatalog {
 public:
  explicit ModelCatalog(std::string dir) : dir_(std::move(dir)) {}

  // Reads every model file; with `only_changed`, skips files whose size and mtime did not move.
  ReloadReport load(bool only_changed);
  // True when a file was added, removed or changed since the last load (cheap: stat only).
  bool changed_on_disk() const;

  const ModelArtifact* find(const std::string& name) const;
  const std::map<std::string, ModelArtifact>& models() const { return models_; }
  const std::string& dir() const { return dir_; }
  nlohmann::json describe() const;

 private:
  struct FileStamp {
    std::uintmax_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  std::map<std::string, FileStamp> scan() const;

  std::string dir_;
  std::map<std::string, ModelArtifact> models_;  // by name
  std::map<std::string, FileStamp> stamps_;      // by path
};

}  // namespace selfheal::detector
