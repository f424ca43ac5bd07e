// bridgectl: smtpreg.vbs for smtpbridge. File verbs edit a bindings YAML file (validated with
// the dispatcher's own loader, written atomically); live verbs talk to a running dispatcher.
#include <CLI/CLI.hpp>
#include <iostream>

#include "bindings/file_editor.h"
#include "bindings/loader.h"
#include "server/admin_auth.h"
#include "smtpbridge/v1/names.h"
#include "tools/bridgectl_live.h"
#include "tools/bridgectl_logs.h"

namespace {

using smtpbridge::dispatcher::BindingsFileEditor;

constexpr int kUsage = 2;

int Enum(const std::string& path) {
  const auto result = smtpbridge::dispatcher::LoadBindingsFile(path);
  if (!result.ok()) {
    for (const auto& e : result.errors) std::cerr << e << "\n";
    return kUsage;
  }
  for (const auto& b : result.set->bindings()) {
    const auto& p = b.proto;
    std::cout << p.name() << "\n"
              << "  id:        " << p.id() << "\n"
              << "  instance:  " << p.instance() << "\n"
              << "  event:     " << smtpbridge::v1::EventTypeName(p.event()) << "\n"
              << "  rule:      " << p.rule() << "\n"
              << "  priority:  " << p.priority() << "\n"
              << "  sink:      " << p.sink() << "\n"
              << "  timeout:   "
              << std::chrono::duration_cast<std::chrono::microseconds>(b.timeout).count() / 1000.0
              << "ms\n"
              << "  on_error:  "
              << (p.on_error() == smtpbridge::v1::ON_ERROR_TEMPFAIL ? "tempfail"
                  : p.on_error() == smtpbridge::v1::ON_ERROR_REJECT ? "reject"
                                                                    : "continue")
              << "\n"
              << "  mode:      " << (b.observe() ? "observe" : "enforce") << "\n"
              << "  enabled:   " << (p.enabled() ? "true" : "false") << "\n";
    if (b.hedge_after) {
      std::cout << "  hedge_after: "
                << std::chrono::duration_cast<std::chrono::microseconds>(*b.hedge_after).count() /
                       1000.0
                << "ms\n";
    }
    if (p.body_limit() > 0) std::cout << "  body_limit: " << p.body_limit() << "\n";
    for (const auto& [k, v] : p.sink_properties())
      std::cout << "  property:  " << k << " = " << v << "\n";
    std::cout << "  source:    " << p.source() << "\n";
  }
  std::cout << result.set->bindings().size() << " binding(s)\n";
  return 0;
}

// Opens the file, applies `edit`, validates and writes. Exit 0, or 2 with the reason.
template <typename Edit>
int EditFile(const std::string& path, Edit edit) {
  std::string error;
  auto editor = BindingsFileEditor::Open(path, &error);
  if (!editor) {
    std::cerr << "bridgectl: " << error << "\n";
    return kUsage;
  }
  if (!edit(*editor, &error)) {
    std::cerr << "bridgectl: " << error << "\n";
    return kUsage;
  }
  const auto errors = editor->Save();
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << e << "\n";
    std::cerr << "bridgectl: not written: the result would not validate\n";
    return kUsage;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"bridgectl: edit smtpbridge bindings files and inspect a running dispatcher"};
  cli.require_subcommand(1);
  std::string file = "bindings.yaml";
  smtpbridge::bridgectl::Connection conn;
  conn.dispatcher = "127.0.0.1:50050";
  cli.add_option("-f,--file", file, "bindings YAML file for the file verbs")->capture_default_str();
  cli.add_option("-d,--dispatcher", conn.dispatcher, "dispatcher address for the live verbs")
      ->capture_default_str();
  std::string argv_token, token_file;
  cli.add_option("--admin-token", argv_token,
                 "refused: use --admin-token-file or SMTPBRIDGE_ADMIN_TOKEN");
  cli.add_option("--admin-token-file", token_file,
                 "file holding the token for Admin calls and test-event (default: the "
                 "SMTPBRIDGE_ADMIN_TOKEN environment variable)");
  cli.add_option("--tls-ca", conn.tls.ca_file, "TLS to the dispatcher: CA of its certificate")
      ->group("TLS");
  cli.add_option("--tls-cert", conn.tls.cert_file,
                 "TLS to the dispatcher: client certificate (PEM)")
      ->group("TLS");
  cli.add_option("--tls-key", conn.tls.key_file, "TLS to the dispatcher: its key (PEM)")
      ->group("TLS");
  cli.add_option("--tls-server-name", conn.tls.server_name,
                 "TLS to the dispatcher: name its certificate carries, instead of the address")
      ->group("TLS");
  cli.add_option("--timeout-ms", conn.timeout_ms, "deadline of each call to the dispatcher")
      ->capture_default_str();

  auto* enum_cmd = cli.add_subcommand("enum", "list the bindings in the file (validates it)");

  smtpbridge::dispatcher::NewBinding nb;
  std::string priority, timeout, on_error, mode, instance, body_limit;
  auto* add = cli.add_subcommand("add", "add a binding to the file");
  add->add_option("--name", nb.name, "unique name")->required();
  add->add_option("--event", nb.event, "event type (INBOUND_COMMAND, OnSmtpInboundCommand, ...)")
      ->required();
  add->add_option("--rule", nb.rule, "SEO rule, e.g. \"RCPT TO=*@example.com;MAIL\"")->required();
  add->add_option("--sink", nb.sink, "worker gRPC target, e.g. ipv4:127.0.0.1:50051")->required();
  add->add_option("--priority", priority,
                  "0..32767 or PRIO_HIGHEST/HIGH/MEDIUM/LOW/DEFAULT/LOWEST");
  add->add_option("--timeout", timeout, "per-call timeout, e.g. 50ms");
  add->add_option("--on-error", on_error, "continue | tempfail | reject");
  add->add_option("--mode", mode, "enforce | observe");
  add->add_option("--instance", instance, "virtual server instance (>= 1)");
  add->add_option("--body-limit", body_limit, "_EOD: body octets the worker receives");

  std::string name, key, value;
  auto* remove = cli.add_subcommand("remove", "remove a binding from the file");
  remove->add_option("name", name, "binding name")->required();
  auto* setprop = cli.add_subcommand("setprop", "set a sink property of a binding");
  setprop->add_option("name", name, "binding name")->required();
  setprop->add_option("key", key, "property name")->required();
  setprop->add_option("value", value, "property value")->required();
  auto* delprop = cli.add_subcommand("delprop", "delete a sink property of a binding");
  delprop->add_option("name", name, "binding name")->required();
  delprop->add_option("key", key, "property name")->required();
  auto* enable = cli.add_subcommand("enable", "enable a binding");
  enable->add_option("name", name, "binding name")->required();
  auto* disable = cli.add_subcommand("disable", "disable a binding (kept in the file)");
  disable->add_option("name", name, "binding name")->required();

  std::string set_rule, set_priority, set_timeout, set_sink, set_on_error, set_mode;
  auto* set = cli.add_subcommand(
      "set", "change a binding's rule, priority, timeout, sink, on_error or mode in place");
  set->add_option("name", name, "binding name")->required();
  set->add_option("--rule", set_rule, "new SEO rule");
  set->add_option("--priority", set_priority, "new priority (0..32767 or PRIO_*)");
  set->add_option("--timeout", set_timeout, "new per-call timeout, e.g. 50ms");
  set->add_option("--sink", set_sink, "new worker gRPC target");
  set->add_option("--on-error", set_on_error, "continue | tempfail | reject");
  set->add_option("--mode", set_mode, "enforce | observe");

  std::string log_file;
  bool follow = false;
  auto* logs = cli.add_subcommand(
      "logs", "pretty-print a decision log (dispatcher --decision-log, sink fallback_log)");
  logs->add_option("file", log_file, "JSON-lines file (\"-\": stdin)")->required();
  logs->add_flag("-F,--follow", follow, "keep printing lines as they are appended (Ctrl-C ends)");

  auto* status =
      cli.add_subcommand("status", "bindings and live per-binding stats of a dispatcher");
  auto* reload = cli.add_subcommand("reload", "make the dispatcher reload its bindings file");

  smtpbridge::bridgectl::TestEventOptions te;
  std::string response_code;
  auto* test = cli.add_subcommand("test-event", "send a synthetic event and explain the verdict");
  test->add_option("--event", te.event, "event type")->capture_default_str();
  test->add_option("--command", te.command,
                   "command line, e.g. \"RCPT TO:<a@example.com>\" or _EOD");
  test->add_option("--sender", te.sender, "envelope sender (\"<>\" for the null sender)");
  test->add_option("--recipient", te.recipients, "accepted recipient (repeatable)");
  test->add_option("--client", te.client, "client IP address")->capture_default_str();
  test->add_option("--helo", te.helo, "HELO/EHLO name");
  test->add_option("--instance", te.instance, "virtual server instance")->capture_default_str();
  test->add_option("--budget", te.budget, "latency budget")->capture_default_str();
  test->add_option("--header", te.headers, "_EOD header \"Name: value\" (repeatable)");
  test->add_option("--body", te.body, "_EOD body text");
  test->add_option("--response-code", response_code, "SERVER_RESPONSE: the next hop's reply code");
  test->add_flag("--json", te.json, "print the EvaluateResponse as JSON");

  CLI11_PARSE(cli, argc, argv);
  auto opt = [](const std::string& s) -> std::optional<std::string> {
    if (s.empty()) return std::nullopt;
    return s;
  };

  if (enum_cmd->parsed()) return Enum(file);
  if (add->parsed()) {
    nb.priority = opt(priority);
    nb.timeout = opt(timeout);
    nb.on_error = opt(on_error);
    nb.mode = opt(mode);
    nb.instance = opt(instance);
    nb.body_limit = opt(body_limit);
    return EditFile(file, [&](BindingsFileEditor& e, std::string* err) { return e.Add(nb, err); });
  }
  if (remove->parsed()) {
    return EditFile(file,
                    [&](BindingsFileEditor& e, std::string* err) { return e.Remove(name, err); });
  }
  if (setprop->parsed()) {
    return EditFile(file, [&](BindingsFileEditor& e, std::string* err) {
      return e.SetProperty(name, key, value, err);
    });
  }
  if (delprop->parsed()) {
    return EditFile(file, [&](BindingsFileEditor& e, std::string* err) {
      return e.DeleteProperty(name, key, err);
    });
  }
  if (enable->parsed() || disable->parsed()) {
    const bool on = enable->parsed();
    return EditFile(
        file, [&](BindingsFileEditor& e, std::string* err) { return e.SetEnabled(name, on, err); });
  }
  if (set->parsed()) {
    const std::vector<std::pair<std::string, std::string>> fields = {
        {"rule", set_rule}, {"priority", set_priority}, {"timeout", set_timeout},
        {"sink", set_sink}, {"on_error", set_on_error}, {"mode", set_mode}};
    bool any = false;
    for (const auto& f : fields) any = any || !f.second.empty();
    if (!any) {
      std::cerr << "bridgectl: set: give at least one of --rule, --priority, --timeout, --sink, "
                   "--on-error, --mode\n";
      return kUsage;
    }
    return EditFile(file, [&](BindingsFileEditor& e, std::string* err) {
      for (const auto& [field, value] : fields) {
        if (!value.empty() && !e.SetField(name, field, value, err)) return false;
      }
      return true;
    });
  }
  if (logs->parsed()) return smtpbridge::bridgectl::Logs(log_file, follow, std::cout);
  if (!argv_token.empty()) {
    std::cerr << "bridgectl: " << smtpbridge::dispatcher::kAdminTokenArgvRefused << "\n";
    return kUsage;
  }
  if (status->parsed() || reload->parsed() || test->parsed()) {
    std::string error;
    if (!smtpbridge::dispatcher::LoadAdminToken(token_file, &conn.admin_token, &error)) {
      std::cerr << "bridgectl: " << error << "\n";
      return kUsage;
    }
    conn.tls.enabled = !conn.tls.ca_file.empty() || !conn.tls.cert_file.empty() ||
                       !conn.tls.key_file.empty() || !conn.tls.server_name.empty();
    if (conn.tls.enabled) {
      if (std::string e = smtpbridge::tls::ValidateClient(conn.tls); !e.empty()) {
        std::cerr << "bridgectl: " << e << "\n";
        return kUsage;
      }
    }
  }
  if (status->parsed()) return smtpbridge::bridgectl::Status(conn);
  if (reload->parsed()) return smtpbridge::bridgectl::Reload(conn);
  if (test->parsed()) {
    if (!response_code.empty()) {
      try {
        te.response_code = static_cast<uint32_t>(std::stoul(response_code));
      } catch (...) {
        std::cerr << "bridgectl: --response-code takes a number\n";
        return kUsage;
      }
    }
    return smtpbridge::bridgectl::TestEvent(conn, te);
  }
  return kUsage;
}
