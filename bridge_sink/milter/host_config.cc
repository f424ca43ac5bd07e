#include "milter/host_config.h"

#include "host/yaml_section.h"

namespace smtpbridge::milter {

void LoadHostConfig(const std::string& path, HostConfig& config) {
  const host::YamlSection m(path, "milter");
  m.ForEach([&](const std::string& key, const YAML::Node& v) {
    if (key == "listen") {
      config.listen = m.String(v, key);
    } else if (key == "instance") {
      config.server.session.instance = static_cast<uint32_t>(m.UInt(v, key, 1, 1u << 30));
    } else if (key == "host_name") {
      config.server.session.host_name = m.String(v, key);
    } else if (key == "budget_command") {
      config.server.session.command_budget = m.Budget(v, key);
    } else if (key == "budget_eom") {
      config.server.session.eom_budget = m.Budget(v, key);
    } else if (key == "idle_timeout") {
      config.server.idle_timeout = m.Timeout(v, key);
    } else if (key == "write_timeout") {
      config.server.write_timeout = m.Timeout(v, key);
    } else {
      m.UnknownField(v, key);
    }
  });
}

}  // namespace smtpbridge::milter
