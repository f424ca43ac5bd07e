// Priority-ordered merge of worker verdicts (pure functions, no I/O).
//
// Verdicts are committed lowest priority number first. The first non-continue verdict consumes
// the event: its action, reply, reason, rewrites and edits are the answer; the tags of the
// continue verdicts committed before it are kept (they are labels, useful even on a reject).
// When every enforce verdict continues, their effects accumulate in priority order:
//   command.set_command  from the highest-priority verdict that sets one
//   command.append       concatenated
//   reply, next_state    from the highest-priority verdict that sets one
//   edits                concatenated
//   tags                 concatenated, duplicates dropped
//   reason               non-empty reasons joined with "; "
// cache_ttl of the merged verdict is the smallest of the contributing verdicts (zero when any is
// zero, or when their cache scopes differ), so a host never caches longer than every worker allows.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bindings/binding_set.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::dispatcher {

bool IsContinue(const v1::Verdict& verdict);

// What a binding contributes when its worker errs, misses its time or answers an invalid
// verdict: continue, or the binding's on_error_reply (default a generic 451 4.7.1 / 550 5.7.1
// that does not name the binding), with a reason that names the binding and what went wrong.
v1::Verdict OnErrorVerdict(const v1::Binding& binding, std::string_view what);

class VerdictMerger {
 public:
  // Adds an enforce-mode verdict, in commit order. Returns true when it consumes the event
  // (a non-continue verdict); nothing added after that counts.
  bool Add(const v1::Verdict& verdict);
  bool decided() const { return decided_; }
  v1::Verdict Result() const;

 private:
  bool decided_ = false;
  bool any_ = false;
  v1::Verdict decisive_;
  v1::Verdict accumulated_;
  std::vector<std::string> reasons_;
  bool cacheable_ = true;
  bool scope_set_ = false;
};

}  // namespace smtpbridge::dispatcher
