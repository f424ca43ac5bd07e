#include "proxy_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "host/listen_address.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::proxy {
namespace {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Ctx {
  std::string source;
  [[noreturn]] void Fail(const YAML::Node& node, const std::string& field,
                         const std::string& why) const {
    std::ostringstream os;
    os << source;
    if (node.Mark().line >= 0) os << ":" << node.Mark().line + 1;
    os << ": " << field << ": " << why;
    throw ConfigError(os.str());
  }
  std::string Str(const YAML::Node& node, const std::string& field) const {
    if (!node.IsScalar()) Fail(node, field, "expected a string");
    return node.as<std::string>();
  }
  uint64_t UInt(const YAML::Node& node, const std::string& field, uint64_t min,
                uint64_t max) const {
    if (!node.IsScalar()) Fail(node, field, "expected a number");
    uint64_t v = 0;
    try {
      const std::string text = node.as<std::string>();
      size_t used = 0;
      if (text.empty() || text[0] == '-') throw std::invalid_argument("negative");
      v = std::stoull(text, &used);
      if (used != text.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      Fail(node, field, "expected a non-negative integer");
    }
    if (v < min || v > max)
      Fail(node, field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return v;
  }
  bool Bool(const YAML::Node& node, const std::string& field) const {
    try {
      return node.as<bool>();
    } catch (const std::exception&) {
      Fail(node, field, "expected true or false");
    }
  }
  Duration Dur(const YAML::Node& node, const std::string& field) const {
    const auto d = v1::ParseDurationText(Str(node, field));
    if (!d) Fail(node, field, "expected a duration like 20ms, 1.5s, 5m");
    return std::chrono::duration_cast<Duration>(*d);
  }
  void Known(const YAML::Node& map, const std::string& where,
             std::initializer_list<const char*> keys) const {
    if (!map.IsMap()) Fail(map, where, "expected a mapping");
    for (const auto& kv : map) {
      const std::string key = kv.first.as<std::string>();
      bool ok = false;
      for (const char* k : keys) ok = ok || key == k;
      if (!ok) Fail(kv.first, where.empty() ? key : where + "." + key, "unknown field");
    }
  }
};

}  // namespace

Duration ProxyConfig::BudgetFor(v1::EventType type, bool eod) const {
  if (eod) return eod_budget;
  auto it = budgets.find(type);
  return it == budgets.end() ? default_budget : it->second;
}

bool SplitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  auto parsed = host::ParseHostPort(text);
  if (!parsed) return false;
  *host = std::move(parsed->host);
  *port = parsed->port;
  return true;
}

ProxyConfig ParseProxyConfig(const std::string& yaml_text, const std::string& source_name) {
  Ctx ctx{source_name};
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(source_name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  ProxyConfig c;
  if (root.IsNull()) return c;
  ctx.Known(root, "",
            {"listen", "next_hop", "instance", "hostname", "banner", "threads", "chunking", "tls",
             "limits", "timeouts", "budgets"});
  std::string host;
  uint16_t port = 0;
  if (root["listen"]) {
    c.listen = ctx.Str(root["listen"], "listen");
    if (!SplitHostPort(c.listen, &host, &port))
      ctx.Fail(root["listen"], "listen", "expected HOST:PORT");
  }
  if (root["next_hop"]) {
    c.next_hop = ctx.Str(root["next_hop"], "next_hop");
    if (!SplitHostPort(c.next_hop, &host, &port) || port == 0) {
      ctx.Fail(root["next_hop"], "next_hop", "expected HOST:PORT with a non-zero port");
    }
  }
  if (root["instance"])
    c.instance = static_cast<uint32_t>(ctx.UInt(root["instance"], "instance", 1, 0xffffffffu));
  if (root["hostname"]) c.hostname = ctx.Str(root["hostname"], "hostname");
  if (root["banner"]) c.banner = ctx.Str(root["banner"], "banner");
  if (root["threads"]) c.threads = static_cast<int>(ctx.UInt(root["threads"], "threads", 0, 256));
  if (root["chunking"]) c.chunking = ctx.Bool(root["chunking"], "chunking");
  if (const auto tls = root["tls"]) {
    ctx.Known(tls, "tls", {"cert", "key"});
    if (tls["cert"]) c.tls_cert = ctx.Str(tls["cert"], "tls.cert");
    if (tls["key"]) c.tls_key = ctx.Str(tls["key"], "tls.key");
    if (c.tls_cert.empty() != c.tls_key.empty()) ctx.Fail(tls, "tls", "cert and key go together");
  }
  if (const auto l = root["limits"]) {
    ctx.Known(l, "limits",
              {"max_command_line", "max_text_line", "max_sessions", "max_recipients",
               "max_message_size", "max_errors"});
    auto& d = c.limits;
    if (l["max_command_line"])
      d.max_command_line = ctx.UInt(l["max_command_line"], "limits.max_command_line", 512, 65536);
    if (l["max_text_line"])
      d.max_text_line = ctx.UInt(l["max_text_line"], "limits.max_text_line", 1000, 1 << 20);
    if (l["max_sessions"])
      d.max_sessions = ctx.UInt(l["max_sessions"], "limits.max_sessions", 1, 1000000);
    if (l["max_recipients"])
      d.max_recipients = ctx.UInt(l["max_recipients"], "limits.max_recipients", 1, 100000);
    if (l["max_message_size"])
      d.max_message_size =
          ctx.UInt(l["max_message_size"], "limits.max_message_size", 1024, 1ull << 34);
    if (l["max_errors"])
      d.max_errors = static_cast<int>(ctx.UInt(l["max_errors"], "limits.max_errors", 1, 10000));
  }
  if (const auto t = root["timeouts"]) {
    ctx.Known(t, "timeouts",
              {"idle", "session", "next_hop_connect", "next_hop_reply", "next_hop_data",
               "tls_handshake", "sink_grace"});
    auto& d = c.timeouts;
    auto positive = [&](const char* key, Duration* out) {
      if (!t[key]) return;
      *out = ctx.Dur(t[key], std::string("timeouts.") + key);
      if (out->count() <= 0) ctx.Fail(t[key], std::string("timeouts.") + key, "must be positive");
    };
    positive("idle", &d.idle);
    positive("session", &d.session);
    positive("next_hop_connect", &d.next_hop_connect);
    positive("next_hop_reply", &d.next_hop_reply);
    positive("next_hop_data", &d.next_hop_data);
    positive("tls_handshake", &d.tls_handshake);
    if (t["sink_grace"]) d.sink_grace = ctx.Dur(t["sink_grace"], "timeouts.sink_grace");
  }
  if (const auto b = root["budgets"]) {
    if (!b.IsMap()) ctx.Fail(b, "budgets", "expected a mapping of event type to duration");
    for (const auto& kv : b) {
      const std::string key = kv.first.as<std::string>();
      const std::string field = "budgets." + key;
      const Duration d = ctx.Dur(kv.second, field);
      if (d.count() <= 0 || d > std::chrono::minutes(1))
        ctx.Fail(kv.second, field, "must be between 1ms and 1m");
      if (key == "default") {
        c.default_budget = d;
      } else if (key == "_EOD" || key == "_eod") {
        c.eod_budget = d;
      } else if (auto type = v1::ParseEventType(key)) {
        c.budgets[*type] = d;
      } else {
        ctx.Fail(kv.first, field,
                 "unknown event type (INBOUND_COMMAND, SERVER_RESPONSE, _EOD, default, ...)");
      }
    }
  }
  return c;
}

ProxyConfig LoadProxyConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseProxyConfig(ss.str(), path);
}

}  // namespace smtpbridge::proxy
