#include "host/yaml_section.h"

#include "smtpbridge/v1/names.h"

namespace smtpbridge::host {
namespace {
const std::string kDuration = "expected a duration like \"20ms\"";
}  // namespace

YamlSection::YamlSection(const std::string& path, std::string name)
    : fields_(path), name_(std::move(name)) {
  node_ = fields_.LoadFile()[name_];
}

void YamlSection::ForEach(
    const std::function<void(const std::string&, const YAML::Node&)>& read) const {
  if (!present()) return;
  if (!node_.IsMap()) fields_.Fail(node_, name_, "expected a map");
  for (const auto& kv : node_) read(kv.first.Scalar(), kv.second);
}

void YamlSection::Fail(const YAML::Node& node, const std::string& key,
                       const std::string& why) const {
  fields_.Fail(node, Field(key), why);
}

std::string YamlSection::String(const YAML::Node& node, const std::string& key) const {
  return fields_.String(node, Field(key));
}

uint64_t YamlSection::UInt(const YAML::Node& node, const std::string& key, uint64_t min,
                           uint64_t max) const {
  return fields_.UInt(node, Field(key), min, max);
}

std::chrono::microseconds YamlSection::Budget(const YAML::Node& node,
                                              const std::string& key) const {
  if (!node.IsScalar()) Fail(node, key, kDuration);
  const auto d = v1::ParseDurationText(node.Scalar());
  if (!d || *d <= std::chrono::nanoseconds(0)) Fail(node, key, kDuration);
  return std::chrono::duration_cast<std::chrono::microseconds>(*d);
}

std::chrono::milliseconds YamlSection::Timeout(const YAML::Node& node,
                                               const std::string& key) const {
  const auto d = Budget(node, key);
  if (d < std::chrono::milliseconds(1)) Fail(node, key, "expected at least 1ms");
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace smtpbridge::host
