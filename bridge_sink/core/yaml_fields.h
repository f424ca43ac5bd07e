// Reading validated fields out of yaml-cpp nodes with errors that name file:line and the field
// path ("sink.yaml:7: sink.breaker.failure_threshold: expected an integer 1..1000000").
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::sink {

class YamlFields {
 public:
  explicit YamlFields(std::string file) : file_(std::move(file)) {}

  // Parses the whole file; syntax errors become runtime_error "file:line: ...".
  YAML::Node LoadFile() const;

  [[noreturn]] void Fail(const YAML::Node& node, const std::string& field,
                         const std::string& message) const;

  // `node` must be a map whose keys are all in `allowed`.
  void ExpectMap(const YAML::Node& node, const std::string& field,
                 std::initializer_list<std::string_view> allowed) const;

  std::string String(const YAML::Node& node, const std::string& field) const;
  bool Bool(const YAML::Node& node, const std::string& field) const;
  uint64_t UInt(const YAML::Node& node, const std::string& field, uint64_t min, uint64_t max) const;
  // "20ms", "1.5s", "250us", "2m"; a bare number is milliseconds. Bounded by [min, max].
  std::chrono::nanoseconds Duration(const YAML::Node& node, const std::string& field,
                                    std::chrono::nanoseconds min,
                                    std::chrono::nanoseconds max) const;
  // A scalar or a sequence of scalars.
  std::vector<std::string> StringList(const YAML::Node& node, const std::string& field) const;
  // "continue", or {action: reject, reply: "550 5.7.1 text"}.
  v1::Verdict Verdict(const YAML::Node& node, const std::string& field) const;
  // The same from separate `action` and (possibly undefined) `reply` nodes of `parent`.
  v1::Verdict VerdictFrom(const YAML::Node& action, const YAML::Node& reply,
                          const YAML::Node& parent, const std::string& field) const;

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace smtpbridge::sink
