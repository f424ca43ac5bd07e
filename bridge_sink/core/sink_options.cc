// LoadSinkOptions: the `sink:` section of a YAML file, validated field by field.
#include <filesystem>
#include <stdexcept>

#include "core/yaml_fields.h"
#include "smtpbridge/sink/sink_factory.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::sink {
namespace {

using std::chrono::duration_cast;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr uint64_t kMaxCount = 1000000;
constexpr uint64_t kMaxCacheEntries = 10000000;
constexpr uint64_t kMaxBodyLimit = 64u * 1024 * 1024;

milliseconds Millis(const YamlFields& y, const YAML::Node& node, const std::string& field,
                    nanoseconds min, nanoseconds max) {
  return duration_cast<milliseconds>(y.Duration(node, field, min, max));
}

void LoadBreaker(const YamlFields& y, const YAML::Node& n, BreakerOptions* out) {
  const std::string f = "sink.breaker";
  y.ExpectMap(n, f,
              {"enabled", "failure_threshold", "open_for", "failure_rate_percent",
               "failure_rate_min_calls", "failure_rate_window"});
  if (n["enabled"]) out->enabled = y.Bool(n["enabled"], f + ".enabled");
  if (n["failure_threshold"]) {
    out->failure_threshold = static_cast<uint32_t>(
        y.UInt(n["failure_threshold"], f + ".failure_threshold", 1, kMaxCount));
  }
  if (n["open_for"])
    out->open_for = Millis(y, n["open_for"], f + ".open_for", milliseconds(1), hours(1));
  if (n["failure_rate_percent"]) {
    out->failure_rate_percent = static_cast<uint32_t>(
        y.UInt(n["failure_rate_percent"], f + ".failure_rate_percent", 1, 100));
  }
  if (n["failure_rate_min_calls"]) {
    out->failure_rate_min_calls = static_cast<uint32_t>(
        y.UInt(n["failure_rate_min_calls"], f + ".failure_rate_min_calls", 1, kMaxCount));
  }
  if (n["failure_rate_window"]) {
    out->failure_rate_window =
        Millis(y, n["failure_rate_window"], f + ".failure_rate_window", milliseconds(10), hours(1));
  }
}

void LoadFreshCache(const YamlFields& y, const YAML::Node& n, FreshCacheOptions* out) {
  const std::string f = "sink.fresh_cache";
  y.ExpectMap(n, f, {"enabled", "max_entries"});
  if (n["enabled"]) out->enabled = y.Bool(n["enabled"], f + ".enabled");
  if (n["max_entries"]) {
    out->max_entries =
        static_cast<std::size_t>(y.UInt(n["max_entries"], f + ".max_entries", 0, kMaxCacheEntries));
  }
}

void LoadStaleCache(const YamlFields& y, const YAML::Node& n, StaleCacheOptions* out) {
  const std::string f = "sink.stale_cache";
  y.ExpectMap(n, f, {"enabled", "ttl", "max_entries"});
  if (n["enabled"]) out->enabled = y.Bool(n["enabled"], f + ".enabled");
  if (n["ttl"]) out->ttl = Millis(y, n["ttl"], f + ".ttl", milliseconds(1), hours(24 * 7));
  if (n["max_entries"]) {
    out->max_entries =
        static_cast<std::size_t>(y.UInt(n["max_entries"], f + ".max_entries", 0, kMaxCacheEntries));
  }
}

void LoadInterests(const YamlFields& y, const YAML::Node& n, InterestsOptions* out) {
  const std::string f = "sink.interests";
  y.ExpectMap(n, f, {"enabled", "refresh_after", "retry_after", "timeout", "unknown_body_limit"});
  if (n["enabled"]) out->enabled = y.Bool(n["enabled"], f + ".enabled");
  if (n["refresh_after"]) {
    out->refresh_after =
        Millis(y, n["refresh_after"], f + ".refresh_after", milliseconds(100), hours(24));
  }
  if (n["retry_after"]) {
    out->retry_after = Millis(y, n["retry_after"], f + ".retry_after", milliseconds(100), hours(1));
  }
  if (n["timeout"])
    out->timeout =
        Millis(y, n["timeout"], f + ".timeout", milliseconds(1), std::chrono::minutes(1));
  if (n["unknown_body_limit"]) {
    out->unknown_body_limit = static_cast<uint32_t>(
        y.UInt(n["unknown_body_limit"], f + ".unknown_body_limit", 0, kMaxBodyLimit));
  }
}

// Relative paths are relative to the config file, so a config directory can move as a whole.
std::string ResolvePath(const YamlFields& y, const YAML::Node& node, const std::string& field,
                        const std::string& yaml_path) {
  std::filesystem::path path = y.String(node, field);
  if (path.empty()) y.Fail(node, field, "must not be empty");
  if (path.is_relative()) path = std::filesystem::path(yaml_path).parent_path() / path;
  return path.string();
}

void LoadTls(const YamlFields& y, const YAML::Node& n, const std::string& yaml_path,
             TlsOptions* out) {
  const std::string f = "sink.tls";
  y.ExpectMap(n, f,
              {"enabled", "ca_file", "cert_file", "key_file", "server_name", "refresh_interval"});
  out->enabled = n["enabled"] ? y.Bool(n["enabled"], f + ".enabled") : true;
  if (n["ca_file"]) out->ca_file = ResolvePath(y, n["ca_file"], f + ".ca_file", yaml_path);
  if (n["cert_file"]) out->cert_file = ResolvePath(y, n["cert_file"], f + ".cert_file", yaml_path);
  if (n["key_file"]) out->key_file = ResolvePath(y, n["key_file"], f + ".key_file", yaml_path);
  if (n["server_name"]) out->server_name = y.String(n["server_name"], f + ".server_name");
  if (n["refresh_interval"]) {
    out->refresh_interval = duration_cast<std::chrono::seconds>(y.Duration(
        n["refresh_interval"], f + ".refresh_interval", tls::kMinRefreshInterval, hours(24)));
  }
  if (out->cert_file.empty() != out->key_file.empty()) {
    y.Fail(n, f, "cert_file and key_file go together (mutual TLS)");
  }
}

}  // namespace

SinkOptions LoadSinkOptions(const std::string& yaml_path) {
  YamlFields y(yaml_path);
  const YAML::Node root = y.LoadFile();
  if (!root.IsMap() || !root["sink"]) {
    throw std::runtime_error(yaml_path + ":1: sink: missing (the file needs a `sink:` section)");
  }
  const YAML::Node n = root["sink"];
  SinkOptions o;
  if (n.IsNull()) return o;
  const std::string f = "sink";
  y.ExpectMap(
      n, f,
      {"dispatcher", "host_name", "default", "defaults_by_event", "breaker", "fresh_cache",
       "stale_cache", "interests", "local_rules", "grpc_deadline_slack", "keep_late_answers",
       "late_answer_window", "warn_interval", "tls", "transport", "fallback_log"});
  if (n["dispatcher"]) {
    o.dispatcher_target = y.String(n["dispatcher"], f + ".dispatcher");
    if (o.dispatcher_target.empty())
      y.Fail(n["dispatcher"], f + ".dispatcher", "must not be empty");
  }
  if (n["transport"]) {
    const std::string t = y.String(n["transport"], f + ".transport");
    if (t == "auto") {
      o.transport = Transport::kAuto;
    } else if (t == "stream") {
      o.transport = Transport::kStream;
    } else if (t == "unary") {
      o.transport = Transport::kUnary;
    } else {
      y.Fail(n["transport"], f + ".transport", "expected auto, stream or unary");
    }
  }
  if (n["host_name"]) o.host_name = y.String(n["host_name"], f + ".host_name");
  if (n["default"]) o.default_verdict = y.Verdict(n["default"], f + ".default");
  if (const YAML::Node by_event = n["defaults_by_event"]) {
    if (!by_event.IsMap())
      y.Fail(by_event, f + ".defaults_by_event", "expected a mapping EVENT: verdict");
    for (const auto& kv : by_event) {
      const std::string name = kv.first.Scalar();
      const std::string field = f + ".defaults_by_event." + name;
      const auto type = v1::ParseEventType(name);
      if (!type) y.Fail(kv.first, field, "unknown event type (e.g. CONNECT, INBOUND_COMMAND)");
      o.default_verdicts[*type] = y.Verdict(kv.second, field);
    }
  }
  if (n["breaker"]) LoadBreaker(y, n["breaker"], &o.breaker);
  if (n["fresh_cache"]) LoadFreshCache(y, n["fresh_cache"], &o.fresh_cache);
  if (n["stale_cache"]) LoadStaleCache(y, n["stale_cache"], &o.stale_cache);
  if (n["interests"]) LoadInterests(y, n["interests"], &o.interests);
  if (n["local_rules"])
    o.local_rules_file = ResolvePath(y, n["local_rules"], f + ".local_rules", yaml_path);
  if (n["fallback_log"]) {
    o.fallback_log = y.String(n["fallback_log"], f + ".fallback_log");
    if (o.fallback_log != "-")
      o.fallback_log = ResolvePath(y, n["fallback_log"], f + ".fallback_log", yaml_path);
  }
  if (n["tls"]) LoadTls(y, n["tls"], yaml_path, &o.tls);
  if (n["grpc_deadline_slack"]) {
    o.grpc_deadline_slack =
        duration_cast<microseconds>(y.Duration(n["grpc_deadline_slack"], f + ".grpc_deadline_slack",
                                               nanoseconds(0), std::chrono::seconds(10)));
  }
  if (n["keep_late_answers"])
    o.keep_late_answers = y.Bool(n["keep_late_answers"], f + ".keep_late_answers");
  if (n["late_answer_window"]) {
    o.late_answer_window = Millis(y, n["late_answer_window"], f + ".late_answer_window",
                                  milliseconds(1), std::chrono::minutes(1));
  }
  if (n["warn_interval"]) {
    o.warn_interval =
        Millis(y, n["warn_interval"], f + ".warn_interval", nanoseconds(0), hours(24));
  }
  return o;
}

}  // namespace smtpbridge::sink
