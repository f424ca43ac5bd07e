#include "example_policy.h"

#include <spdlog/spdlog.h>

#include <random>

#include "smtpbridge/common/glob.h"
#include "smtpbridge/v1/names.h"

namespace smtpbridge::example {
namespace {

using worker::EventContext;
using worker::Responder;
using worker::Verdict;

// The binding's recipient globs: `blocked`, as dispatcher_service/examples/bindings.yaml sets it;
// `blocked_recipients`, as the Go, Node and Python example workers read it, is accepted too.
constexpr std::string_view kBlockedProperties[] = {"blocked", "blocked_recipients"};

// The bindings' glob syntax (smtpbridge/common/glob.h); a malformed pattern matches nothing.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  const auto glob = common::Glob::Compile(pattern, nullptr);
  return glob && glob->Matches(text);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> ParseHeaderFlag(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto name = Trim(text.substr(0, colon));
  if (name.empty() || name.find_first_of(" \t\r\n") != std::string_view::npos) return std::nullopt;
  const auto value = Trim(text.substr(colon + 1));
  if (value.find_first_of("\r\n") != std::string_view::npos) return std::nullopt;
  return std::make_pair(std::string(name), std::string(value));
}

ExamplePolicy::ExamplePolicy(ExamplePolicyOptions options) : options_(std::move(options)) {}

void ExamplePolicy::Register(worker::Worker& worker) {
  auto on_recipient = [this](const EventContext& ctx) { return OnRecipient(ctx); };
  worker.OnAsync(v1::EVENT_TYPE_INBOUND_COMMAND, "RCPT", Shaped(on_recipient))
      .OnAsync(v1::EVENT_TYPE_PER_RECIPIENT, Shaped(on_recipient))
      .OnAsync(v1::EVENT_TYPE_INBOUND_COMMAND, "_EOD",
               Shaped([this](const EventContext& ctx) { return OnEndOfData(ctx); }))
      .OnOtherAsync(Shaped([](const EventContext&) { return Verdict::Continue(); }));
}

bool ExamplePolicy::Blocked(const EventContext& ctx, const std::string& recipient) const {
  for (const auto& pattern : options_.reject_rcpt) {
    if (GlobMatch(pattern, recipient)) return true;
  }
  for (const auto property : kBlockedProperties) {
    std::string_view list = ctx.property(property).value_or("");
    while (!list.empty()) {
      const auto comma = list.find(',');
      const auto item = Trim(list.substr(0, comma));
      if (!item.empty() && GlobMatch(item, recipient)) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return false;
}

Verdict ExamplePolicy::OnRecipient(const EventContext& ctx) const {
  const std::string recipient = ctx.recipient();
  if (!recipient.empty() && Blocked(ctx, recipient)) {
    auto v = ctx.type() == v1::EVENT_TYPE_PER_RECIPIENT
                 ? Verdict::SkipRecipient()
                 : Verdict::Reject(550, "5.7.1", "Recipient <" + recipient + "> blocked by policy");
    return std::move(v.Reason(options_.name + ": recipient blocked").Tag("blocked-recipient"));
  }
  return Verdict::Continue();
}

Verdict ExamplePolicy::OnEndOfData(const EventContext& ctx) const {
  auto v = Verdict::Continue();
  if (options_.add_header) v.AddHeader(options_.add_header->first, options_.add_header->second);
  return v;
}

bool ExamplePolicy::ShouldFail() const {
  if (options_.fail_rate <= 0) return false;
  if (options_.fail_rate >= 1) return true;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(rng) < options_.fail_rate;
}

worker::AsyncHandler ExamplePolicy::Shaped(worker::Handler decide) {
  return [this, decide = std::move(decide)](const EventContext& ctx, Responder responder) {
    const auto event = v1::EventTypeName(ctx.type());
    if (options_.hang) {
      // Never answered: the reactor completes it when the caller cancels or at shutdown.
      spdlog::debug("{} event={} {} {} -> (hang)", options_.name, ctx.event_id(), event,
                    ctx.keyword());
      return;
    }
    if (ShouldFail()) {
      spdlog::debug("{} event={} {} {} -> UNAVAILABLE (fail-rate)", options_.name, ctx.event_id(),
                    event, ctx.keyword());
      responder.Fail(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, options_.name + ": simulated failure"));
      return;
    }
    Verdict verdict = decide(ctx);
    if (options_.cache_ttl.count() > 0 && ctx.keyword() != "_EOD")
      verdict.CacheFor(options_.cache_ttl);
    spdlog::debug("{} event={} {} {} -> {} {}", options_.name, ctx.event_id(), event, ctx.keyword(),
                  v1::ActionName(verdict.action()), verdict.proto().reason());
    if (options_.delay.count() > 0) {
      delays_.After(options_.delay, [responder, verdict = std::move(verdict)]() mutable {
        responder.Finish(std::move(verdict));
      });
    } else {
      responder.Finish(std::move(verdict));
    }
  };
}

}  // namespace smtpbridge::example
