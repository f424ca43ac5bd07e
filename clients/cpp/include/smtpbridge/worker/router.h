// Which handler gets an event: the most specific registration wins, by event type and command
// keyword, then by event type alone, then the catch-all. An event nobody handles continues.
// A handler that throws fails the call with INTERNAL (the dispatcher then applies on_error).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "smtpbridge/v1/event.pb.h"
#include "smtpbridge/worker/event_context.h"
#include "smtpbridge/worker/responder.h"
#include "smtpbridge/worker/verdict.h"

namespace smtpbridge::worker {

// Answers at once.
using Handler = std::function<Verdict(const EventContext&)>;
// Answers later through the Responder (a timer, another service); `ctx` stays valid until then.
using AsyncHandler = std::function<void(const EventContext&, Responder)>;

class Router {
 public:
  // `keyword` is matched case-insensitively against Command.keyword ("RCPT", "_EOD", ...);
  // empty means any keyword. A later registration for the same key replaces the earlier one.
  void Add(v1::EventType type, std::string_view keyword, Handler handler);
  void AddAsync(v1::EventType type, std::string_view keyword, AsyncHandler handler);
  // Events no other registration matches.
  void SetFallback(AsyncHandler handler) { fallback_ = std::move(handler); }

  // Runs the matching handler; always completes `responder` (now or later), never throws.
  void Dispatch(const EventContext& ctx, const Responder& responder) const;

  // Whether some handler (not the default continue) is registered for this event.
  bool Handles(v1::EventType type, std::string_view keyword) const;

 private:
  const AsyncHandler* Find(v1::EventType type, std::string_view keyword) const;

  std::map<std::pair<int, std::string>, AsyncHandler> handlers_;
  AsyncHandler fallback_;
};

}  // namespace smtpbridge::worker
