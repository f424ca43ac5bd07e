// The optional local rules file: static allow/deny decisions that must hold while the
// dispatcher is unreachable. Consulted on fallback only, before the stale cache and the default.
//
//   rules:
//     - name: block-listed-net          # for logs and metrics
//       client: [192.0.2.0/24, "2001:db8:bad::/48"]
//       sender: "*@spam.example"        # globs as in bindings (*, ?, [a-z]), case-insensitive;
//                                       # a list means any of them
//       recipient: ["postmaster@*"]
//       helo: "*.dynamic.example"
//       events: [CONNECT, INBOUND_COMMAND]   # default: every event type
//       instance: 1                     # default: every instance
//       action: reject
//       reply: "550 5.7.1 Blocked by local policy"
//
// A rule matches when every condition it has matches; the first matching rule wins.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/address_match.h"
#include "smtpbridge/common/glob.h"
#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::sink {

struct LocalRule {
  std::string name;
  std::vector<Cidr> clients;
  std::vector<common::Glob> senders;  // the bindings' glob syntax, case-insensitive
  std::vector<common::Glob> recipients;
  std::vector<common::Glob> helos;
  std::vector<v1::EventType> events;
  uint32_t instance = 0;  // 0: any
  v1::Verdict verdict;

  bool Matches(const v1::Event& event) const;
};

class LocalRules {
 public:
  LocalRules() = default;
  explicit LocalRules(std::vector<LocalRule> rules) : rules_(std::move(rules)) {}

  // Loads and validates a rules file; throws std::runtime_error naming file:line:field.
  static LocalRules LoadFile(const std::string& path);

  // The first matching rule, or null.
  const LocalRule* Match(const v1::Event& event) const;

  std::size_t size() const { return rules_.size(); }

 private:
  std::vector<LocalRule> rules_;
};

// What the rules see of an event: the sender (MAIL's argument before the envelope has it),
// the recipient (RCPT's argument likewise) and the HELO name (EHLO/HELO's argument likewise).
std::optional<std::string> EventSender(const v1::Event& event);
std::optional<std::string> EventRecipient(const v1::Event& event);
std::optional<std::string> EventHelo(const v1::Event& event);

}  // namespace smtpbridge::sink
