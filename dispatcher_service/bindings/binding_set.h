// An immutable, validated set of bindings, indexed by (instance, event) and pre-sorted by
// priority. The dispatcher shares one through a shared_ptr; a reload swaps in a new one while
// in-flight events finish on the set they started with.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings/rule.h"
#include "smtpbridge/tls/tls_options.h"
#include "smtpbridge/v1/binding.pb.h"
#include "smtpbridge/v1/dispatcher.pb.h"

namespace smtpbridge::dispatcher {

inline constexpr uint32_t kPriorityHighest = 0;
inline constexpr uint32_t kPriorityHigh = 8191;
inline constexpr uint32_t kPriorityMedium = 16383;
inline constexpr uint32_t kPriorityDefault = 24575;
inline constexpr uint32_t kPriorityLowest = 32767;
inline constexpr std::chrono::milliseconds kDefaultTimeout{100};
inline constexpr std::chrono::milliseconds kMinTimeout{1};
inline constexpr std::chrono::seconds kMaxTimeout{60};

struct CompiledBinding {
  v1::Binding proto;  // with defaults applied; what workers and the Admin API see
  Rule rule;
  std::chrono::nanoseconds timeout;
  size_t order = 0;  // declaration order, the priority tie-breaker
  // Send a second copy of the call when the first has not answered by then (not in the proto:
  // a dispatcher-side setting).
  std::optional<std::chrono::nanoseconds> hedge_after;
  // The binding's own TLS to its workers (`tls:` block; paths made absolute); absent: the
  // dispatcher's --worker-tls-* settings.
  std::optional<tls::TlsOptions> tls;

  const std::string& name() const { return proto.name(); }
  uint32_t priority() const { return proto.priority(); }
  bool observe() const { return proto.mode() == v1::BINDING_MODE_OBSERVE; }
  v1::OnError on_error() const { return proto.on_error(); }
};

class BindingSet {
 public:
  BindingSet(std::vector<CompiledBinding> bindings, std::string source);

  // Enabled bindings whose instance, event and rule match, in commit order (priority, then
  // declaration order). Appends to `out` (cleared first).
  void Match(const v1::Event& event, std::vector<const CompiledBinding*>* out) const;

  const std::vector<CompiledBinding>& bindings() const { return bindings_; }
  const std::string& source() const { return source_; }

  // GetInterests: one entry per (instance, event) with an enabled binding; instance 0 = all.
  std::vector<v1::Interest> Interests(uint32_t instance) const;

 private:
  std::vector<CompiledBinding> bindings_;
  std::string source_;
  // (instance, event) -> indices into bindings_ (enabled only), in commit order.
  std::map<std::pair<uint32_t, int>, std::vector<size_t>> index_;
};

// "PRIO_HIGH" etc. -> value; nullopt when unknown.
std::optional<uint32_t> ParsePriorityName(std::string_view name);

}  // namespace smtpbridge::dispatcher
