#include "core/yaml_fields.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "core/verdict_text.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::sink {

YAML::Node YamlFields::LoadFile() const {
  try {
    return YAML::LoadFile(file_);
  } catch (const YAML::BadFile&) {
    throw std::runtime_error(file_ + ": cannot read the file");
  } catch (const YAML::ParserException& e) {
    throw std::runtime_error(file_ + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

void YamlFields::Fail(const YAML::Node& node, const std::string& field,
                      const std::string& message) const {
  const int line = node.Mark().is_null() ? 0 : node.Mark().line + 1;
  throw std::runtime_error(file_ + ":" + std::to_string(line) + ": " + field + ": " + message);
}

void YamlFields::ExpectMap(const YAML::Node& node, const std::string& field,
                           std::initializer_list<std::string_view> allowed) const {
  if (!node.IsMap()) Fail(node, field, "expected a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (auto k : allowed) known += (known.empty() ? "" : ", ") + std::string(k);
      Fail(kv.first, field + "." + key, "unknown field (known: " + known + ")");
    }
  }
}

std::string YamlFields::String(const YAML::Node& node, const std::string& field) const {
  if (!node.IsScalar()) Fail(node, field, "expected a string");
  return node.Scalar();
}

bool YamlFields::Bool(const YAML::Node& node, const std::string& field) const {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    Fail(node, field, "expected true or false");
  }
  return value;
}

uint64_t YamlFields::UInt(const YAML::Node& node, const std::string& field, uint64_t min,
                          uint64_t max) const {
  const std::string range =
      "expected an integer " + std::to_string(min) + ".." + std::to_string(max);
  if (!node.IsScalar()) Fail(node, field, range);
  const std::string& text = node.Scalar();
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      text.size() > 19) {
    Fail(node, field, range);
  }
  const uint64_t value = std::stoull(text);
  if (value < min || value > max) Fail(node, field, range);
  return value;
}

std::chrono::nanoseconds YamlFields::Duration(const YAML::Node& node, const std::string& field,
                                              std::chrono::nanoseconds min,
                                              std::chrono::nanoseconds max) const {
  if (!node.IsScalar()) Fail(node, field, "expected a duration like \"20ms\" or \"2s\"");
  const auto value = v1::ParseDurationText(node.Scalar());
  if (!value) Fail(node, field, "expected a duration like \"20ms\" or \"2s\"");
  if (*value < min || *value > max) {
    Fail(node, field,
         "out of range (" + std::to_string(min.count() / 1000) + "us.." +
             std::to_string(max.count() / 1000) + "us)");
  }
  return *value;
}

std::vector<std::string> YamlFields::StringList(const YAML::Node& node,
                                                const std::string& field) const {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      out.push_back(String(node[i], field + "[" + std::to_string(i) + "]"));
    }
  } else {
    Fail(node, field, "expected a string or a list of strings");
  }
  return out;
}

v1::Verdict YamlFields::Verdict(const YAML::Node& node, const std::string& field) const {
  if (node.IsMap()) {
    ExpectMap(node, field, {"action", "reply"});
    if (!node["action"]) Fail(node, field + ".action", "missing");
    return VerdictFrom(node["action"], node["reply"], node, field);
  }
  return VerdictFrom(node, YAML::Node(), node, field);
}

v1::Verdict YamlFields::VerdictFrom(const YAML::Node& action_node, const YAML::Node& reply_node,
                                    const YAML::Node& parent, const std::string& field) const {
  v1::Verdict verdict;
  const auto action = ParseAction(String(action_node, field + ".action"));
  if (!action) {
    Fail(action_node, field + ".action",
         "expected continue, respond, reject, tempfail, drop_session or skip_recipient");
  }
  verdict.set_action(*action);
  if (reply_node.IsDefined() && !reply_node.IsNull()) {
    std::string error;
    auto reply = ParseReplyText(String(reply_node, field + ".reply"), &error);
    if (!reply || !ReplyFitsAction(*action, *reply, &error))
      Fail(reply_node, field + ".reply", error);
    *verdict.mutable_reply() = *reply;
  } else if (*action == v1::ACTION_RESPOND) {
    Fail(parent, field + ".reply", "respond needs a reply");
  }
  return verdict;
}

}  // namespace smtpbridge::sink
