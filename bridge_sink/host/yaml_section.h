// A host's own section of its YAML file (`milter:`, ...): every field read with bounds, every
// error as "file:line: section.field: why" (sink::YamlFields underneath, the sink's reader).
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "core/yaml_fields.h"

namespace smtpbridge::host {

class YamlSection {
 public:
  // Loads `path` (a syntax error names its line); throws std::runtime_error.
  YamlSection(const std::string& path, std::string name);

  // False when the file has no such section.
  bool present() const { return node_.IsDefined() && !node_.IsNull(); }
  // Calls `read(key, value)` for each field; the section must be a mapping.
  void ForEach(
      const std::function<void(const std::string& key, const YAML::Node& value)>& read) const;

  [[noreturn]] void Fail(const YAML::Node& node, const std::string& key,
                         const std::string& why) const;
  void UnknownField(const YAML::Node& key_node, const std::string& key) const {
    Fail(key_node, key, "unknown field");
  }
  std::string String(const YAML::Node& node, const std::string& key) const;
  uint64_t UInt(const YAML::Node& node, const std::string& key, uint64_t min, uint64_t max) const;
  // A budget: any positive duration ("20ms", "1.5s").
  std::chrono::microseconds Budget(const YAML::Node& node, const std::string& key) const;
  // A connection timeout: milliseconds, at least 1ms ("500ms" must not truncate to 0 s).
  std::chrono::milliseconds Timeout(const YAML::Node& node, const std::string& key) const;

 private:
  std::string Field(const std::string& key) const { return name_ + "." + key; }

  sink::YamlFields fields_;
  std::string name_;
  YAML::Node node_;
};

}  // namespace smtpbridge::host
