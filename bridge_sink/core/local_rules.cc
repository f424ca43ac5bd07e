#include "core/local_rules.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/yaml_fields.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::sink {
namespace {

bool KeywordIs(const v1::Event& event, const char* keyword) {
  return strcasecmp(event.command().keyword().c_str(), keyword) == 0;
}

// "FROM:<a@b> SIZE=1" -> "a@b" (also without angle brackets); nullopt when not of that form.
std::optional<std::string> PathArgument(const std::string& argument, const char* prefix) {
  const std::size_t n = std::strlen(prefix);
  if (argument.size() < n || strncasecmp(argument.c_str(), prefix, n) != 0) return std::nullopt;
  std::string_view rest(argument);
  rest.remove_prefix(n);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (!rest.empty() && rest.front() == '<') {
    const auto close = rest.find('>');
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(rest.substr(1, close - 1));
  }
  return std::string(rest.substr(0, rest.find(' ')));
}

bool AnyGlob(const std::vector<common::Glob>& patterns, const std::optional<std::string>& value) {
  if (patterns.empty()) return true;
  if (!value) return false;
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const common::Glob& g) { return g.Matches(*value); });
}

std::vector<common::Glob> Globs(const YamlFields& y, const YAML::Node& node,
                                const std::string& field) {
  std::vector<common::Glob> globs;
  for (const std::string& text : y.StringList(node, field)) {
    std::string error;
    auto glob = common::Glob::Compile(text, &error);
    if (!glob) y.Fail(node, field, error);
    globs.push_back(std::move(*glob));
  }
  return globs;
}

}  // namespace

std::optional<std::string> EventSender(const v1::Event& event) {
  if (event.envelope().has_sender()) return event.envelope().sender();
  if (KeywordIs(event, "MAIL")) return PathArgument(event.command().argument(), "FROM:");
  return std::nullopt;
}

std::optional<std::string> EventRecipient(const v1::Event& event) {
  if (!event.envelope().recipient().empty()) return event.envelope().recipient();
  if (KeywordIs(event, "RCPT")) return PathArgument(event.command().argument(), "TO:");
  return std::nullopt;
}

std::optional<std::string> EventHelo(const v1::Event& event) {
  if (!event.session().helo_name().empty()) return event.session().helo_name();
  if (KeywordIs(event, "EHLO") || KeywordIs(event, "HELO")) {
    const std::string& arg = event.command().argument();
    return arg.substr(0, arg.find(' '));
  }
  return std::nullopt;
}

bool LocalRule::Matches(const v1::Event& event) const {
  if (instance != 0 && event.session().instance() != instance) return false;
  if (!events.empty() && std::find(events.begin(), events.end(), event.type()) == events.end()) {
    return false;
  }
  if (!clients.empty()) {
    const std::string& address = event.session().client().address();
    if (std::none_of(clients.begin(), clients.end(),
                     [&](const Cidr& c) { return c.Contains(address); })) {
      return false;
    }
  }
  return AnyGlob(senders, senders.empty() ? std::nullopt : EventSender(event)) &&
         AnyGlob(recipients, recipients.empty() ? std::nullopt : EventRecipient(event)) &&
         AnyGlob(helos, helos.empty() ? std::nullopt : EventHelo(event));
}

const LocalRule* LocalRules::Match(const v1::Event& event) const {
  for (const LocalRule& rule : rules_) {
    if (rule.Matches(event)) return &rule;
  }
  return nullptr;
}

LocalRules LocalRules::LoadFile(const std::string& path) {
  YamlFields y(path);
  YAML::Node root = y.LoadFile();
  if (!root || root.IsNull()) return LocalRules();
  y.ExpectMap(root, "(top level)", {"rules"});
  const YAML::Node list = root["rules"];
  if (!list || list.IsNull()) return LocalRules();
  if (!list.IsSequence()) y.Fail(list, "rules", "expected a list of rules");
  std::vector<LocalRule> rules;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node node = list[i];
    const std::string field = "rules[" + std::to_string(i) + "]";
    y.ExpectMap(
        node, field,
        {"name", "client", "sender", "recipient", "helo", "events", "instance", "action", "reply"});
    LocalRule rule;
    rule.name = node["name"] ? y.String(node["name"], field + ".name") : field;
    if (node["client"]) {
      for (const std::string& text : y.StringList(node["client"], field + ".client")) {
        auto cidr = Cidr::Parse(text);
        if (!cidr)
          y.Fail(node["client"], field + ".client", "not an address or CIDR block: " + text);
        rule.clients.push_back(*cidr);
      }
    }
    if (node["sender"]) rule.senders = Globs(y, node["sender"], field + ".sender");
    if (node["recipient"]) rule.recipients = Globs(y, node["recipient"], field + ".recipient");
    if (node["helo"]) rule.helos = Globs(y, node["helo"], field + ".helo");
    if (node["events"]) {
      for (const std::string& text : y.StringList(node["events"], field + ".events")) {
        auto type = v1::ParseEventType(text);
        if (!type) y.Fail(node["events"], field + ".events", "unknown event type: " + text);
        rule.events.push_back(*type);
      }
    }
    if (node["instance"]) {
      rule.instance =
          static_cast<uint32_t>(y.UInt(node["instance"], field + ".instance", 1, 1000000));
    }
    if (!node["action"]) y.Fail(node, field + ".action", "missing");
    rule.verdict = y.VerdictFrom(node["action"], node["reply"], node, field);
    rule.verdict.set_reason("local rule " + rule.name);
    rules.push_back(std::move(rule));
  }
  return LocalRules(std::move(rules));
}

}  // namespace smtpbridge::sink
