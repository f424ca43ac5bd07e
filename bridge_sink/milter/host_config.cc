#include "milter/host_config.h"

#include <stdexcept>

#include <yaml-cpp/yaml.h>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::milter {
namespace {

[[noreturn]] void Bad(const std::string& path, const YAML::Node& node, const std::string& field,
                      const std::string& why) {
  throw std::runtime_error(path + ":" + std::to_string(node.Mark().line + 1) + ": milter." + field +
                           ": " + why);
}

std::chrono::microseconds Duration(const std::string& path, const YAML::Node& node, const std::string& field) {
  auto d = v1::ParseDurationText(node.as<std::string>());
  if (!d || *d <= std::chrono::nanoseconds(0)) Bad(path, node, field, "expected a duration like \"20ms\"");
  return std::chrono::duration_cast<std::chrono::microseconds>(*d);
}

// Milliseconds, not seconds: "500ms" must not truncate to 0 (a connection closed at once).
std::chrono::milliseconds Milliseconds(const std::string& path, const YAML::Node& node, const std::string& field) {
  const auto d = Duration(path, node, field);
  if (d < std::chrono::milliseconds(1)) Bad(path, node, field, "expected at least 1ms");
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace

void LoadHostConfig(const std::string& path, HostConfig& config) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  YAML::Node m = root["milter"];
  if (!m) return;
  if (!m.IsMap()) Bad(path, m, "", "expected a map");
  for (const auto& kv : m) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "listen") {
      config.listen = v.as<std::string>();
    } else if (key == "instance") {
      int instance = 0;
      try {
        instance = v.as<int>();
      } catch (const YAML::Exception&) {
        Bad(path, v, key, "expected an integer >= 1");
      }
      if (instance < 1) Bad(path, v, key, "expected an integer >= 1");
      config.server.session.instance = static_cast<uint32_t>(instance);
    } else if (key == "host_name") {
      config.server.session.host_name = v.as<std::string>();
    } else if (key == "budget_command") {
      config.server.session.command_budget = Duration(path, v, key);
    } else if (key == "budget_eom") {
      config.server.session.eom_budget = Duration(path, v, key);
    } else if (key == "idle_timeout") {
      config.server.idle_timeout = Milliseconds(path, v, key);
    } else if (key == "write_timeout") {
      config.server.write_timeout = Milliseconds(path, v, key);
    } else {
      Bad(path, kv.first, key, "unknown field");
    }
  }
}

}  // namespace smtpbridge::milter
