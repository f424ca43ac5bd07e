// The milter host's settings: flags, optionally from a YAML file's `milter:` section
// (listen, instance, host_name, budget_command, budget_eom, idle_timeout, write_timeout).
#pragma once

#include <string>

#include "milter/milter_server.h"

namespace smtpbridge::milter {

struct HostConfig {
  std::string listen = "inet:127.0.0.1:8891";
  ServerOptions server;
};

// Reads the `milter:` section over `config`; throws std::runtime_error naming the file, line and
// field on a bad value.
void LoadHostConfig(const std::string& yaml_path, HostConfig& config);

}  // namespace smtpbridge::milter
