#include "bindings/loader.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::dispatcher {
namespace {

constexpr size_t kMaxNameLength = 128;
constexpr uint32_t kMaxInstance = 65535;
constexpr std::chrono::microseconds kMinHedgeAfter{100};

// Collects "file:line: field: message" errors.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void Add(int line, const std::string& field, const std::string& message) {
    std::string text = file_ + ":" + std::to_string(line > 0 ? line : 1) + ": ";
    if (!field.empty()) text += field + ": ";
    errors_.push_back(text + message);
  }
  std::vector<std::string> Take() { return std::move(errors_); }
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

int LineOf(const YAML::Node& node, int fallback) {
  const YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : fallback;
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string Describe(const YAML::Node& node) {
  if (node.IsScalar()) return Quote(node.Scalar());
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  return "nothing";
}

std::optional<int64_t> ParseInteger(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  const std::string& s = node.Scalar();
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<bool> ParseBool(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  bool value = false;
  if (YAML::convert<bool>::decode(node, value)) return value;
  return std::nullopt;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

// Values shared by all bindings unless they set their own.
struct Defaults {
  std::chrono::nanoseconds timeout = kDefaultTimeout;
  uint32_t instance = 1;
  uint32_t priority = kPriorityDefault;
  v1::OnError on_error = v1::ON_ERROR_CONTINUE;
  v1::BindingMode mode = v1::BINDING_MODE_ENFORCE;
  std::optional<v1::SmtpReply> on_error_reply;
  int on_error_reply_line = 0;
};

class Parser {
 public:
  Parser(std::string file) : file_(file), errors_(std::move(file)) {}

  LoadResult Run(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::ParserException& e) {
      errors_.Add(e.mark.line + 1, "", "YAML syntax error: " + e.msg);
      return Finish({});
    }
    if (!root.IsDefined() || root.IsNull()) {
      errors_.Add(1, "", "empty file: expected a map with a \"bindings\" list");
      return Finish({});
    }
    if (!root.IsMap()) {
      errors_.Add(LineOf(root, 1), "",
                  "expected a map with \"defaults\" and \"bindings\", got " + Describe(root));
      return Finish({});
    }
    YAML::Node bindings_node;
    CheckKeys(root, "", {"defaults", "bindings"});
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      if (key == "defaults") ParseDefaults(kv.second, LineOf(kv.first, 1));
      if (key == "bindings") bindings_node = kv.second;
    }
    std::vector<CompiledBinding> out;
    if (bindings_node.IsDefined() && !bindings_node.IsNull()) {
      if (!bindings_node.IsSequence()) {
        errors_.Add(LineOf(bindings_node, 1), "bindings",
                    "expected a list of bindings, got " + Describe(bindings_node));
      } else {
        std::map<std::string, int> names;  // name -> line of first declaration
        for (size_t i = 0; i < bindings_node.size(); ++i) {
          auto binding = ParseBinding(bindings_node[i], i);
          if (!binding) continue;
          const YAML::Node& item = bindings_node[i];
          const int line = LineOf(item["name"], LineOf(item, 1));
          const auto [it, inserted] = names.emplace(binding->proto.name(), line);
          if (!inserted) {
            errors_.Add(line, "bindings[" + std::to_string(i) + "].name",
                        "duplicate name " + Quote(binding->proto.name()) +
                            " (first declared on line " + std::to_string(it->second) + ")");
            continue;
          }
          if (!CheckSameTls(*binding, item, i)) continue;
          out.push_back(std::move(*binding));
        }
      }
    }
    return Finish(std::move(out));
  }

 private:
  LoadResult Finish(std::vector<CompiledBinding> bindings) {
    LoadResult result;
    if (errors_.empty()) {
      result.set = std::make_shared<const BindingSet>(std::move(bindings), file_);
    }
    result.errors = errors_.Take();
    return result;
  }

  // One channel serves each sink target, so every binding that names a target must ask for the
  // same TLS (or none).
  bool CheckSameTls(const CompiledBinding& binding, const YAML::Node& item, size_t index) {
    const auto [it, inserted] =
        tls_by_sink_.emplace(binding.proto.sink(), std::make_pair(binding.tls, LineOf(item, 1)));
    if (inserted || it->second.first == binding.tls) return true;
    const YAML::Node tls = item["tls"];
    errors_.Add(tls ? LineOf(tls, LineOf(item, 1)) : LineOf(item, 1),
                "bindings[" + std::to_string(index) + "].tls",
                "sink " + Quote(binding.proto.sink()) + " already has other TLS settings (line " +
                    std::to_string(it->second.second) + "); one channel serves each sink");
    return false;
  }

  // Reports keys not in `allowed` and duplicate keys (yaml-cpp keeps both silently).
  void CheckKeys(const YAML::Node& map, const std::string& prefix,
                 std::initializer_list<std::string_view> allowed) {
    std::set<std::string> seen;
    for (const auto& kv : map) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      const std::string field = prefix.empty() ? key : prefix + "." + key;
      const int line = LineOf(kv.first, 1);
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        errors_.Add(line, field, "unknown key (expected one of: " + list + ")");
      } else if (!seen.insert(key).second) {
        errors_.Add(line, field, "duplicate key");
      }
    }
  }

  std::optional<std::chrono::nanoseconds> ParseTimeout(const YAML::Node& node, int line,
                                                       const std::string& field) {
    std::optional<std::chrono::nanoseconds> d;
    if (node.IsScalar()) d = v1::ParseDurationText(node.Scalar());
    if (!d) {
      errors_.Add(line, field, Describe(node) + " is not a duration (e.g. \"50ms\", \"1.5s\")");
      return std::nullopt;
    }
    if (*d < kMinTimeout || *d > kMaxTimeout) {
      errors_.Add(line, field, Describe(node) + " is out of range 1ms..60s");
      return std::nullopt;
    }
    return d;
  }

  std::optional<uint32_t> ParseInstance(const YAML::Node& node, int line,
                                        const std::string& field) {
    const auto v = ParseInteger(node);
    if (!v || *v < 1 || *v > kMaxInstance) {
      errors_.Add(line, field, Describe(node) + " is not an instance number 1..65535");
      return std::nullopt;
    }
    return static_cast<uint32_t>(*v);
  }

  std::optional<uint32_t> ParsePriority(const YAML::Node& node, int line,
                                        const std::string& field) {
    if (node.IsScalar()) {
      if (const auto v = ParseInteger(node); v && *v >= 0 && *v <= kPriorityLowest) {
        return static_cast<uint32_t>(*v);
      }
      if (const auto named = ParsePriorityName(node.Scalar())) return named;
    }
    errors_.Add(line, field, Describe(node) + " is not a number 0..32767 or a PRIO_* name");
    return std::nullopt;
  }

  std::optional<v1::OnError> ParseOnError(const YAML::Node& node, int line,
                                          const std::string& field) {
    if (node.IsScalar()) {
      const std::string& s = node.Scalar();
      if (s == "continue") return v1::ON_ERROR_CONTINUE;
      if (s == "tempfail") return v1::ON_ERROR_TEMPFAIL;
      if (s == "reject") return v1::ON_ERROR_REJECT;
    }
    errors_.Add(line, field, Describe(node) + " is not one of continue, tempfail, reject");
    return std::nullopt;
  }

  // "451 4.7.1 Try again later": a code, an optional enhanced code of its class, one line of text.
  std::optional<v1::SmtpReply> ParseReply(const YAML::Node& node, int line,
                                          const std::string& field) {
    const std::string want =
        " is not a reply \"CODE [X.Y.Z] text\", e.g. \"451 4.7.1 Try again later\"";
    if (!node.IsScalar()) {
      errors_.Add(line, field, Describe(node) + want);
      return std::nullopt;
    }
    const std::string& s = node.Scalar();
    if (s.size() < 3 || !std::isdigit(static_cast<unsigned char>(s[0])) ||
        !std::isdigit(static_cast<unsigned char>(s[1])) ||
        !std::isdigit(static_cast<unsigned char>(s[2])) || (s.size() > 3 && s[3] != ' ') ||
        !v1::IsReplyText(s)) {
      errors_.Add(line, field, Quote(s) + want);
      return std::nullopt;
    }
    v1::SmtpReply reply;
    reply.set_code(static_cast<uint32_t>(std::stoi(s.substr(0, 3))));
    std::string rest = s.size() > 4 ? s.substr(4) : "";
    const auto space = rest.find(' ');
    if (v1::IsEnhancedCode(rest.substr(0, space))) {
      if (rest[0] != s[0]) {
        errors_.Add(line, field,
                    Quote(s) + ": the enhanced code's class must match the reply code");
        return std::nullopt;
      }
      reply.set_enhanced_code(rest.substr(0, space));
      rest = space == std::string::npos ? "" : rest.substr(space + 1);
    }
    if (!rest.empty()) reply.add_lines(rest);
    return reply;
  }

  // The client-visible reply must fit what on_error does (the dispatcher's verdict check).
  void CheckOnErrorReply(const v1::SmtpReply& reply, v1::OnError on_error, int line,
                         const std::string& field) {
    const uint32_t code = reply.code();
    if (on_error == v1::ON_ERROR_TEMPFAIL && (code / 100 != 4 || code == 421)) {
      errors_.Add(line, field,
                  std::to_string(code) + " does not fit on_error tempfail (a 4xx other than 421)");
    } else if (on_error == v1::ON_ERROR_REJECT && code / 100 != 5) {
      errors_.Add(line, field, std::to_string(code) + " does not fit on_error reject (a 5xx)");
    }
  }

  std::optional<v1::BindingMode> ParseMode(const YAML::Node& node, int line,
                                           const std::string& field) {
    if (node.IsScalar()) {
      if (node.Scalar() == "enforce") return v1::BINDING_MODE_ENFORCE;
      if (node.Scalar() == "observe") return v1::BINDING_MODE_OBSERVE;
    }
    errors_.Add(line, field, Describe(node) + " is not one of enforce, observe");
    return std::nullopt;
  }

  void ParseDefaults(const YAML::Node& node, int key_line) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      errors_.Add(LineOf(node, key_line), "defaults", "expected a map, got " + Describe(node));
      return;
    }
    CheckKeys(node, "defaults",
              {"timeout", "instance", "priority", "on_error", "on_error_reply", "mode"});
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const std::string field = "defaults." + key;
      const int line = LineOf(kv.second, LineOf(kv.first, key_line));
      if (key == "timeout") {
        if (auto v = ParseTimeout(kv.second, line, field)) defaults_.timeout = *v;
      } else if (key == "instance") {
        if (auto v = ParseInstance(kv.second, line, field)) defaults_.instance = *v;
      } else if (key == "priority") {
        if (auto v = ParsePriority(kv.second, line, field)) defaults_.priority = *v;
      } else if (key == "on_error") {
        if (auto v = ParseOnError(kv.second, line, field)) defaults_.on_error = *v;
      } else if (key == "on_error_reply") {
        defaults_.on_error_reply = ParseReply(kv.second, line, field);
        defaults_.on_error_reply_line = line;
      } else if (key == "mode") {
        if (auto v = ParseMode(kv.second, line, field)) defaults_.mode = *v;
      }
    }
  }

  std::optional<CompiledBinding> ParseBinding(const YAML::Node& node, size_t index) {
    const std::string prefix = "bindings[" + std::to_string(index) + "]";
    const int binding_line = LineOf(node, 1);
    if (!node.IsMap()) {
      errors_.Add(binding_line, prefix, "expected a map, got " + Describe(node));
      return std::nullopt;
    }
    const size_t errors_before = errors_.size();
    CheckKeys(node, prefix,
              {"name", "id", "instance", "event", "rule", "priority", "sink", "sink_properties",
               "timeout", "on_error", "on_error_reply", "mode", "enabled", "body_limit",
               "hedge_after", "tls"});
    v1::Binding b;
    b.set_instance(defaults_.instance);
    b.set_priority(defaults_.priority);
    b.set_on_error(defaults_.on_error);
    b.set_mode(defaults_.mode);
    b.set_enabled(true);
    std::chrono::nanoseconds timeout = defaults_.timeout;
    std::optional<std::chrono::nanoseconds> hedge_after;
    int hedge_line = binding_line;
    std::optional<tls::TlsOptions> tls;
    std::string rule_text = "*";
    int rule_line = binding_line;
    std::optional<v1::SmtpReply> on_error_reply = defaults_.on_error_reply;
    int on_error_reply_line = defaults_.on_error_reply_line;
    bool has_event = false;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) continue;
      const std::string key = kv.first.Scalar();
      const std::string field = prefix + "." + key;
      const YAML::Node& value = kv.second;
      const int line = LineOf(value, LineOf(kv.first, binding_line));
      auto scalar = [&]() -> std::optional<std::string> {
        if (value.IsScalar()) return value.Scalar();
        errors_.Add(line, field, "expected a string, got " + Describe(value));
        return std::nullopt;
      };
      if (key == "name") {
        if (auto s = scalar()) {
          if (!ValidName(*s)) {
            errors_.Add(line, field,
                        Quote(*s) +
                            " must be 1..128 letters, digits, '.', '_', ':' or '-', starting with "
                            "a letter or digit");
          } else {
            b.set_name(*s);
          }
        }
      } else if (key == "id") {
        if (auto s = scalar()) {
          if (s->empty()) errors_.Add(line, field, "must not be empty");
          b.set_id(*s);
        }
      } else if (key == "instance") {
        if (auto v = ParseInstance(value, line, field)) b.set_instance(*v);
      } else if (key == "event") {
        if (auto s = scalar()) {
          if (auto type = v1::ParseEventType(*s)) {
            b.set_event(*type);
            has_event = true;
          } else {
            errors_.Add(line, field,
                        Quote(*s) +
                            " is not an event type (INBOUND_COMMAND, SESSION_START, MESSAGE_START, "
                            "PER_RECIPIENT, BEFORE_DATA, SESSION_END, OUTBOUND_COMMAND, "
                            "SERVER_RESPONSE, CONNECT or an OnSmtp* name)");
            has_event = true;  // reported; do not also complain that it is missing
            b.set_event(v1::EVENT_TYPE_UNSPECIFIED);
          }
        }
      } else if (key == "rule") {
        if (auto s = scalar()) {
          rule_text = *s;
          rule_line = line;
        }
      } else if (key == "priority") {
        if (auto v = ParsePriority(value, line, field)) b.set_priority(*v);
      } else if (key == "sink") {
        if (auto s = scalar()) {
          if (s->empty() || s->find_first_of(" \t") != std::string::npos) {
            errors_.Add(line, field,
                        Quote(*s) +
                            " is not a gRPC target (e.g. \"ipv4:127.0.0.1:50051\", "
                            "\"dns:///policy:50051\")");
          } else {
            b.set_sink(*s);
          }
        }
      } else if (key == "sink_properties") {
        ParseProperties(value, line, field, &b);
      } else if (key == "timeout") {
        if (auto v = ParseTimeout(value, line, field)) timeout = *v;
      } else if (key == "on_error") {
        if (auto v = ParseOnError(value, line, field)) b.set_on_error(*v);
      } else if (key == "on_error_reply") {
        on_error_reply = ParseReply(value, line, field);
        on_error_reply_line = line;
      } else if (key == "mode") {
        if (auto v = ParseMode(value, line, field)) b.set_mode(*v);
      } else if (key == "hedge_after") {
        std::optional<std::chrono::nanoseconds> d;
        if (value.IsScalar()) d = v1::ParseDurationText(value.Scalar());
        if (!d || *d < kMinHedgeAfter) {
          errors_.Add(line, field, Describe(value) + " is not a duration of at least 100us");
        } else {
          hedge_after = d;
          hedge_line = line;
        }
      } else if (key == "tls") {
        tls = ParseTls(value, line, field);
      } else if (key == "enabled") {
        if (auto v = ParseBool(value)) {
          b.set_enabled(*v);
        } else {
          errors_.Add(line, field, Describe(value) + " is not true or false");
        }
      } else if (key == "body_limit") {
        const auto v = ParseInteger(value);
        if (!v || *v < 0 || *v > UINT32_MAX) {
          errors_.Add(line, field, Describe(value) + " is not a byte count 0..4294967295");
        } else {
          b.set_body_limit(static_cast<uint32_t>(*v));
        }
      }
    }
    if (!node["name"]) errors_.Add(binding_line, prefix + ".name", "required");
    if (!node["sink"]) errors_.Add(binding_line, prefix + ".sink", "required");
    if (!has_event) errors_.Add(binding_line, prefix + ".event", "required");
    if (b.body_limit() > 0 && has_event && b.event() != v1::EVENT_TYPE_INBOUND_COMMAND &&
        b.event() != v1::EVENT_TYPE_UNSPECIFIED) {
      errors_.Add(LineOf(node["body_limit"], binding_line), prefix + ".body_limit",
                  "only INBOUND_COMMAND bindings (the _EOD event) receive a body");
    }
    if (on_error_reply &&
        (b.on_error() == v1::ON_ERROR_TEMPFAIL || b.on_error() == v1::ON_ERROR_REJECT)) {
      CheckOnErrorReply(*on_error_reply, b.on_error(), on_error_reply_line,
                        prefix + ".on_error_reply");
      *b.mutable_on_error_reply() = *on_error_reply;
    }
    if (hedge_after && *hedge_after >= timeout) {
      errors_.Add(hedge_line, prefix + ".hedge_after",
                  "must be shorter than the timeout, or no hedge is ever sent");
    }
    std::optional<Rule> rule;
    if (has_event && b.event() != v1::EVENT_TYPE_UNSPECIFIED) {
      std::string error;
      rule = Rule::Compile(rule_text, b.event(), &error);
      if (!rule) errors_.Add(rule_line, prefix + ".rule", error);
    }
    if (errors_.size() != errors_before || !rule) return std::nullopt;
    if (b.id().empty()) b.set_id(b.name());
    b.set_rule(rule_text);
    *b.mutable_timeout() = v1::ToProtoDuration(timeout);
    b.set_source(file_ + ":" + std::to_string(binding_line));
    CompiledBinding compiled{std::move(b), std::move(*rule), timeout, index};
    compiled.hedge_after = hedge_after;
    compiled.tls = std::move(tls);
    return compiled;
  }

  // `tls:` {enabled, ca_file, cert_file, key_file, server_name, refresh_interval}: the TLS this
  // binding's worker channel uses. Files are resolved against the bindings file's folder and
  // checked now (readable PEM, key matching its certificate).
  std::optional<tls::TlsOptions> ParseTls(const YAML::Node& node, int line,
                                          const std::string& field) {
    if (!node.IsMap()) {
      errors_.Add(line, field,
                  "expected a map (enabled, ca_file, cert_file, key_file, server_name, "
                  "refresh_interval), got " +
                      Describe(node));
      return std::nullopt;
    }
    const size_t errors_before = errors_.size();
    CheckKeys(node, field,
              {"enabled", "ca_file", "cert_file", "key_file", "server_name", "refresh_interval"});
    tls::TlsOptions o;
    o.enabled = true;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) continue;
      const std::string key = kv.first.Scalar();
      const std::string item = field + "." + key;
      const int item_line = LineOf(kv.second, LineOf(kv.first, line));
      if (key == "enabled") {
        if (auto v = ParseBool(kv.second)) {
          o.enabled = *v;
        } else {
          errors_.Add(item_line, item, Describe(kv.second) + " is not true or false");
        }
        continue;
      }
      if (key == "refresh_interval") {
        std::optional<std::chrono::nanoseconds> d;
        if (kv.second.IsScalar()) d = v1::ParseDurationText(kv.second.Scalar());
        if (!d || *d < tls::kMinRefreshInterval) {
          errors_.Add(item_line, item, Describe(kv.second) + " is not a duration of at least 1s");
        } else {
          o.refresh_interval = std::chrono::duration_cast<std::chrono::seconds>(*d);
        }
        continue;
      }
      if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
        errors_.Add(item_line, item, "expected a non-empty string, got " + Describe(kv.second));
        continue;
      }
      const std::string& text = kv.second.Scalar();
      if (key == "server_name") {
        o.server_name = text;
        continue;
      }
      const std::string path = ResolvePath(text);
      if (key == "ca_file") o.ca_file = path;
      if (key == "cert_file") o.cert_file = path;
      if (key == "key_file") o.key_file = path;
    }
    if (errors_.size() != errors_before) return std::nullopt;
    if (o.enabled) {
      if (std::string e = tls::ValidateClient(o); !e.empty()) {
        errors_.Add(line, field, e);
        return std::nullopt;
      }
    }
    return o;
  }

  // Relative paths are relative to the bindings file's folder.
  std::string ResolvePath(const std::string& path) const {
    const std::filesystem::path p(path);
    if (p.is_absolute()) return path;
    return (std::filesystem::path(file_).parent_path() / p).lexically_normal().string();
  }

  void ParseProperties(const YAML::Node& node, int line, const std::string& field, v1::Binding* b) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      errors_.Add(line, field, "expected a map of names to values, got " + Describe(node));
      return;
    }
    auto& props = *b->mutable_sink_properties();
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      const std::string item = field + "." + key;
      const int item_line = LineOf(kv.second, LineOf(kv.first, line));
      if (key.empty()) {
        errors_.Add(LineOf(kv.first, line), field, "property names must be non-empty strings");
        continue;
      }
      if (props.count(key)) {
        errors_.Add(LineOf(kv.first, line), item, "duplicate key");
        continue;
      }
      const YAML::Node& value = kv.second;
      if (value.IsNull()) {
        props[key] = "";
      } else if (value.IsScalar()) {
        props[key] = value.Scalar();
      } else if (value.IsSequence()) {
        std::string joined;
        bool ok = true;
        for (size_t i = 0; i < value.size(); ++i) {
          if (!value[i].IsScalar()) {
            errors_.Add(LineOf(value[i], item_line), item + "[" + std::to_string(i) + "]",
                        "list items must be scalars, got " + Describe(value[i]));
            ok = false;
            break;
          }
          joined += (i == 0 ? "" : ",") + value[i].Scalar();
        }
        if (ok) props[key] = joined;
      } else {
        errors_.Add(item_line, item,
                    "maps are not allowed as property values (use a string or a list)");
      }
    }
  }

  std::string file_;
  Errors errors_;
  Defaults defaults_;
  std::map<std::string, std::pair<std::optional<tls::TlsOptions>, int>> tls_by_sink_;
};

}  // namespace

LoadResult LoadBindingsText(std::string_view text, const std::string& file_name) {
  return Parser(file_name).Run(text);
}

LoadResult LoadBindingsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back(path + ":1: cannot read the file: " + std::strerror(errno));
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return LoadBindingsText(text.str(), path);
}

}  // namespace smtpbridge::dispatcher
