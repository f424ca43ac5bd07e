#include "bindings/file_editor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bindings/loader.h"

namespace smtpbridge::dispatcher {

std::optional<BindingsFileEditor> BindingsFileEditor::Open(const std::string& path,
                                                           std::string* error) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    YAML::Node root(YAML::NodeType::Map);
    root["bindings"] = YAML::Node(YAML::NodeType::Sequence);
    return BindingsFileEditor(path, root);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot read: " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    *error = path + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg;
    return std::nullopt;
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    *error = path + ": expected a map with a \"bindings\" list";
    return std::nullopt;
  }
  if (!root["bindings"] || root["bindings"].IsNull()) {
    root["bindings"] = YAML::Node(YAML::NodeType::Sequence);
  }
  if (!root["bindings"].IsSequence()) {
    *error = path + ": \"bindings\" is not a list";
    return std::nullopt;
  }
  return BindingsFileEditor(path, root);
}

std::optional<YAML::Node> BindingsFileEditor::Find(const std::string& name, std::string* error) {
  for (YAML::Node b : root_["bindings"]) {
    if (b.IsMap() && b["name"] && b["name"].IsScalar() && b["name"].Scalar() == name) return b;
  }
  *error = "no binding named \"" + name + "\" in " + path_;
  return std::nullopt;
}

bool BindingsFileEditor::Add(const NewBinding& nb, std::string* error) {
  std::string ignored;
  if (Find(nb.name, &ignored)) {
    *error = "a binding named \"" + nb.name + "\" already exists in " + path_;
    return false;
  }
  YAML::Node b(YAML::NodeType::Map);
  b["name"] = nb.name;
  if (nb.instance) b["instance"] = *nb.instance;
  b["event"] = nb.event;
  b["rule"] = nb.rule;
  if (nb.priority) b["priority"] = *nb.priority;
  b["sink"] = nb.sink;
  if (nb.timeout) b["timeout"] = *nb.timeout;
  if (nb.on_error) b["on_error"] = *nb.on_error;
  if (nb.mode) b["mode"] = *nb.mode;
  if (nb.body_limit) b["body_limit"] = *nb.body_limit;
  root_["bindings"].push_back(b);
  return true;
}

bool BindingsFileEditor::Remove(const std::string& name, std::string* error) {
  if (!Find(name, error)) return false;
  YAML::Node kept(YAML::NodeType::Sequence);
  for (YAML::Node b : root_["bindings"]) {
    if (b.IsMap() && b["name"] && b["name"].IsScalar() && b["name"].Scalar() == name) continue;
    kept.push_back(b);
  }
  root_["bindings"] = kept;
  return true;
}

bool BindingsFileEditor::SetProperty(const std::string& name, const std::string& key,
                                     const std::string& value, std::string* error) {
  auto b = Find(name, error);
  if (!b) return false;
  if (!(*b)["sink_properties"] || !(*b)["sink_properties"].IsMap()) {
    (*b)["sink_properties"] = YAML::Node(YAML::NodeType::Map);
  }
  (*b)["sink_properties"][key] = value;
  return true;
}

bool BindingsFileEditor::DeleteProperty(const std::string& name, const std::string& key,
                                        std::string* error) {
  auto b = Find(name, error);
  if (!b) return false;
  YAML::Node props = (*b)["sink_properties"];
  if (!props || !props.IsMap() || !props[key]) {
    *error = "binding \"" + name + "\" has no property \"" + key + "\"";
    return false;
  }
  props.remove(key);
  if (props.size() == 0) b->remove("sink_properties");
  return true;
}

bool BindingsFileEditor::SetEnabled(const std::string& name, bool enabled, std::string* error) {
  auto b = Find(name, error);
  if (!b) return false;
  (*b)["enabled"] = enabled;
  return true;
}

bool BindingsFileEditor::SetField(const std::string& name, const std::string& field,
                                  const std::string& value, std::string* error) {
  static const std::vector<std::string> kFields = {"rule", "priority", "timeout",
                                                   "sink", "on_error", "mode"};
  if (std::find(kFields.begin(), kFields.end(), field) == kFields.end()) {
    *error = "set: " + field + " is not one of rule, priority, timeout, sink, on_error, mode";
    return false;
  }
  auto b = Find(name, error);
  if (!b) return false;
  (*b)[field] = value;
  return true;
}

std::string BindingsFileEditor::Text() const {
  YAML::Emitter out;
  out << root_;
  return std::string(out.c_str()) + "\n";
}

std::vector<std::string> BindingsFileEditor::Save() const {
  const std::string text = Text();
  LoadResult check = LoadBindingsText(text, path_);
  if (!check.ok()) return check.errors;
  // Same directory, so rename() is atomic and a watcher sees either file, never half of one.
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return {tmp + ": cannot write: " + std::strerror(errno)};
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return {path_ + ": cannot replace: " + ec.message()};
  }
  return {};
}

}  // namespace smtpbridge::dispatcher
