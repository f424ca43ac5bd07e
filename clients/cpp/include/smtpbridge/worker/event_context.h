// A read-only view of one SinkRequest for handlers: typed accessors for what policies usually
// look at, the raw protos for everything else. It does not copy the request; it stays valid
// until the handler's call is answered.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtpbridge/v1/sink.pb.h"

namespace smtpbridge::worker {

class EventContext {
 public:
  using Clock = std::chrono::steady_clock;

  // `deadline` is when the dispatcher stops waiting (from the request's time_left, or the gRPC
  // deadline when time_left is absent); Clock::time_point::max() when there is none.
  EventContext(const v1::SinkRequest& request, Clock::time_point deadline);
  // For tests and tools: deadline from the request's time_left, counted from now.
  explicit EventContext(const v1::SinkRequest& request);

  const v1::SinkRequest& request() const { return request_; }
  const v1::Event& event() const { return request_.event(); }
  const v1::Binding& binding() const { return request_.binding(); }

  v1::EventType type() const { return event().type(); }
  const std::string& event_id() const { return event().event_id(); }
  const v1::SessionContext& session() const { return event().session(); }
  const v1::Envelope& envelope() const { return event().envelope(); }
  const v1::Command& command() const { return event().command(); }
  // Upper-case command verb ("RCPT", "_EOD", ...); empty for events without a command.
  const std::string& keyword() const { return event().command().keyword(); }
  const std::string& argument() const { return event().command().argument(); }
  // The reply the host will give (INBOUND_COMMAND) or the next hop gave (SERVER_RESPONSE).
  const v1::SmtpReply& response() const { return event().response(); }
  const v1::Message& message() const { return event().message(); }

  const std::string& client_address() const { return session().client().address(); }
  const std::string& helo() const { return session().helo_name(); }
  const std::string& sender() const { return envelope().sender(); }
  // The recipient a RCPT / PER_RECIPIENT event is about: Envelope.recipient, else the
  // recipient at Envelope.recipient_index, else the address in a "TO:<...>" argument.
  std::string recipient() const;

  // `_EOD`: value of the first header field with this name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
  // `_EOD`: every value of the header fields with this name, in order.
  std::vector<std::string_view> headers(std::string_view name) const;

  // The binding's sink_properties bag.
  std::optional<std::string_view> property(std::string_view key) const;
  std::string property(std::string_view key, std::string_view fallback) const;
  // A comma-separated property as a list, blanks dropped: "a, b,,c" -> {"a", "b", "c"}.
  std::vector<std::string> property_list(std::string_view key) const;
  // An integer property; `fallback` when absent; throws std::invalid_argument when not a number.
  int64_t property_int(std::string_view key, int64_t fallback) const;

  // What is left of the dispatcher's time for this call (never negative).
  std::chrono::nanoseconds time_left() const;
  Clock::time_point deadline() const { return deadline_; }

  // The W3C trace context the dispatcher sent with this call ("traceparent" gRPC metadata: a
  // child span of the SMTP session's trace), "" without one; trace_id() is its trace id, for
  // log lines that join the sink's and the dispatcher's.
  const std::string& traceparent() const { return traceparent_; }
  std::string_view trace_id() const {
    return traceparent_.size() >= 35 ? std::string_view(traceparent_).substr(3, 32)
                                     : std::string_view();
  }
  void set_traceparent(std::string value) { traceparent_ = std::move(value); }

 private:
  const v1::SinkRequest& request_;
  Clock::time_point deadline_;
  std::string traceparent_;
};

}  // namespace smtpbridge::worker
