// The typed verdict builder handlers return: a named constructor for the action, then chained
// modifiers for rewrites, message edits, caching and labels. It only builds a v1::Verdict; the
// dispatcher decides what a verdict means next to the others.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::worker {

class Verdict {
 public:
  // No opinion (S_OK). Rewrites, edits and tags added to it still apply.
  static Verdict Continue();
  // Answer the client with this reply and consume the command: 2xx, 4xx or 5xx; never 3xx, not
  // 421 (DropSession), 221 only to QUIT — the dispatcher refuses anything else
  // (docs/verdicts.md).
  static Verdict Respond(uint32_t code, std::string enhanced_code, std::string text);
  // Permanent failure; without arguments the host uses 550 5.7.1. `code` must be 5xx.
  static Verdict Reject();
  static Verdict Reject(uint32_t code, std::string enhanced_code, std::string text);
  // Transient failure; without arguments the host uses 451 4.7.1. `code` must be 4xx.
  static Verdict Tempfail();
  static Verdict Tempfail(uint32_t code, std::string enhanced_code, std::string text);
  // Say 421 and close the session; `text` replaces the default 421 text when given.
  static Verdict DropSession(std::string text = {});
  // PER_RECIPIENT: do not send this recipient to the next hop.
  static Verdict SkipRecipient();

  // Outbound events: replace or extend the command line sent to the next hop.
  Verdict& SetCommand(std::string line);
  Verdict& Append(std::string suffix);
  // SERVER_RESPONSE: where the outbound session goes next.
  Verdict& NextState(v1::OutboundState state);
  // SERVER_RESPONSE with Continue(): replaces the reply relayed to the client.
  Verdict& Reply(uint32_t code, std::string enhanced_code, std::string text);

  // `_EOD` message edits, applied in the order they were added.
  Verdict& AddHeader(std::string name, std::string value);
  Verdict& InsertHeader(uint32_t index, std::string name, std::string value);
  // `occurrence` is 1-based (0: the first); an empty value deletes the field.
  Verdict& ChangeHeader(std::string name, std::string value, uint32_t occurrence = 0);
  Verdict& DeleteHeader(std::string name, uint32_t occurrence = 0);
  Verdict& ChangeSender(std::string address, std::string parameters = {});
  Verdict& AddRecipient(std::string address, std::string parameters = {});
  Verdict& DeleteRecipient(std::string address);
  Verdict& Quarantine(std::string reason);
  Verdict& Discard();
  Verdict& ReplaceBody(std::string body);

  // Let the dispatcher reuse this verdict for equivalent events for `ttl`.
  Verdict& CacheFor(std::chrono::nanoseconds ttl,
                    v1::CacheScope scope = v1::CACHE_SCOPE_UNSPECIFIED);
  // Free text for logs; the last call wins.
  Verdict& Reason(std::string reason);
  // A label for metrics and logs; repeated calls add labels.
  Verdict& Tag(std::string tag);

  v1::Action action() const { return proto_.action(); }
  const v1::Verdict& proto() const& { return proto_; }
  v1::Verdict&& proto() && { return std::move(proto_); }

 private:
  explicit Verdict(v1::Action action) { proto_.set_action(action); }
  Verdict& WithReply(uint32_t code, std::string enhanced_code, std::string text);
  v1::MessageEdit* NewEdit() { return proto_.add_edits(); }

  v1::Verdict proto_;
};

}  // namespace smtpbridge::worker
