// How smtpbridge reads an event's command and which events count as "the same" for a cached
// verdict. One definition for the dispatcher's verdict cache (per binding) and the sink's fresh
// cache (per merged verdict), so the two can never disagree about what a TTL'd answer covers.
#pragma once

#include <string>
#include <string_view>

#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/v1/verdict.pb.h"

namespace smtpbridge::common {

// The keyword and argument of an event's command, from Command.keyword/argument or, when those
// are empty, split from Command.line (as binding rules read them).
std::string_view CommandKeyword(const v1::Command& command);
std::string_view CommandArgument(const v1::Command& command);

// Whether a verdict about this event may be reused at all: never at end of data (`_EOD`, or any
// event carrying a message): that verdict is about one message's content.
bool Cacheable(const v1::Event& event);

// What makes two events the same command: keyword (case-insensitive) and argument, the reply
// code of a SERVER_RESPONSE, the client address of a CONNECT (a CONNECT has no command, so
// without it one client's verdict would answer every client's). Length-prefixed fields, so no
// byte inside a field can make two keys collide.
std::string CommandKey(const v1::Event& event);

// The key of `event` under a verdict's cache_scope; "" when the event lacks what the scope needs
// or the scope is not one this build knows (then the verdict is not cached under it).
// CACHE_SCOPE_UNSPECIFIED is the same command: CommandKey.
std::string ScopeKey(v1::CacheScope scope, const v1::Event& event);

}  // namespace smtpbridge::common
