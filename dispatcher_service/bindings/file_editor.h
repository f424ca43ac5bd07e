// Edits a bindings YAML file with smtpreg.vbs's verbs (add, remove, setprop, delprop, enable,
// disable) for bridgectl. The result is validated with the same loader the dispatcher uses
// before anything is written, and written atomically (temp file + rename), so a running
// dispatcher never reloads a half-written or invalid file. yaml-cpp does not keep comments:
// an edited file loses them (documented in docs/bindings.md).
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

namespace smtpbridge::dispatcher {

// Fields of `bridgectl add`; optional ones are left out of the file (defaults apply).
struct NewBinding {
  std::string name;
  std::string event;
  std::string rule;
  std::string sink;
  std::optional<std::string> priority;
  std::optional<std::string> timeout;
  std::optional<std::string> on_error;
  std::optional<std::string> mode;
  std::optional<std::string> instance;
  std::optional<std::string> body_limit;
};

class BindingsFileEditor {
 public:
  // Reads `path`; a missing file starts empty ("bindings: []"). nullopt with `error` when the
  // file is unreadable or not YAML.
  static std::optional<BindingsFileEditor> Open(const std::string& path, std::string* error);

  // Each returns false with `error` set when the binding (or property) is not there, or when
  // `add` names an existing binding. The tree is unchanged then.
  bool Add(const NewBinding& binding, std::string* error);
  bool Remove(const std::string& name, std::string* error);
  bool SetProperty(const std::string& name, const std::string& key, const std::string& value,
                   std::string* error);
  bool DeleteProperty(const std::string& name, const std::string& key, std::string* error);
  bool SetEnabled(const std::string& name, bool enabled, std::string* error);
  // Changes one of the binding's own fields in place (smtpreg.vbs could edit the source's
  // properties; setprop only touches sink properties): `field` is rule, priority, timeout,
  // sink, on_error or mode. The value is checked by Save(), with the loader.
  bool SetField(const std::string& name, const std::string& field, const std::string& value,
                std::string* error);

  // The edited document as YAML text.
  std::string Text() const;
  // Validates Text() with the loader; when valid, writes it atomically and returns no errors.
  std::vector<std::string> Save() const;

 private:
  BindingsFileEditor(std::string path, YAML::Node root) : path_(std::move(path)), root_(root) {}
  std::optional<YAML::Node> Find(const std::string& name, std::string* error);

  std::string path_;
  YAML::Node root_;
};

}  // namespace smtpbridge::dispatcher
