#include "smtpbridge/worker/router.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <exception>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::worker {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

void FailInternal(const EventContext& ctx, const Responder& responder, const std::string& what) {
  spdlog::error("handler for {} {} (event {} trace {}) threw: {}", v1::EventTypeName(ctx.type()),
                ctx.keyword(), ctx.event_id(), ctx.trace_id(), what);
  responder.Fail(grpc::Status(grpc::StatusCode::INTERNAL, "handler failed: " + what));
}

}  // namespace

void Router::Add(v1::EventType type, std::string_view keyword, Handler handler) {
  AddAsync(type, keyword,
           [handler = std::move(handler)](const EventContext& ctx, Responder responder) {
             responder.Finish(handler(ctx));
           });
}

void Router::AddAsync(v1::EventType type, std::string_view keyword, AsyncHandler handler) {
  handlers_[{static_cast<int>(type), Upper(keyword)}] = std::move(handler);
}

const AsyncHandler* Router::Find(v1::EventType type, std::string_view keyword) const {
  if (!keyword.empty()) {
    if (auto it = handlers_.find({static_cast<int>(type), Upper(keyword)}); it != handlers_.end()) {
      return &it->second;
    }
  }
  if (auto it = handlers_.find({static_cast<int>(type), std::string()}); it != handlers_.end()) {
    return &it->second;
  }
  return fallback_ ? &fallback_ : nullptr;
}

bool Router::Handles(v1::EventType type, std::string_view keyword) const {
  return Find(type, keyword) != nullptr;
}

void Router::Dispatch(const EventContext& ctx, const Responder& responder) const {
  const AsyncHandler* handler = Find(ctx.type(), ctx.keyword());
  if (handler == nullptr) {
    responder.Finish(Verdict::Continue());
    return;
  }
  try {
    (*handler)(ctx, responder);
  } catch (const std::exception& e) {
    FailInternal(ctx, responder, e.what());
  } catch (...) {
    FailInternal(ctx, responder, "unknown exception");
  }
}

}  // namespace smtpbridge::worker
