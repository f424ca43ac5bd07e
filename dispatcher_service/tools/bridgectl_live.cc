#include "tools/bridgectl_live.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "bindings/rule.h"
#include "smtpbridge/grpc/client_channel.h"
#include "smtpbridge/v1/admin.grpc.pb.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/smtp_text.h"

namespace smtpbridge::bridgectl {
namespace {

// The shared client configuration (smtpbridge/grpc/client_channel.h): a dns:/// name of several
// dispatchers reaches a serving one.
std::shared_ptr<grpc::Channel> Channel(const Connection& c) {
  // The shared client configuration, with TLS (and a client certificate) when asked for.
  grpc::ChannelArguments args =
      grpc_client::ClientChannelArgs(grpc_client::kDispatcherHealthService);
  tls::ApplyChannelArgs(c.tls, &args);
  std::string error;
  auto credentials = tls::MakeChannelCredentials(c.tls, &error);
  if (!credentials) {
    // Checked in main(); gone since: fail the calls rather than fall back to plaintext.
    std::cerr << "bridgectl: " << error << "\n";
    std::exit(1);
  }
  return grpc::CreateCustomChannel(c.dispatcher, credentials, args);
}

void Prepare(const Connection& c, grpc::ClientContext* context, bool admin) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(c.timeout_ms));
  if (admin && !c.admin_token.empty()) {
    context->AddMetadata("authorization", "Bearer " + c.admin_token);
  }
}

int Fail(const std::string& what, const grpc::Status& status) {
  std::cerr << "bridgectl: " << what << ": " << status.error_message() << " (code "
            << status.error_code() << ")\n";
  return 1;
}

std::string Micros(const google::protobuf::Duration& d) {
  const auto ns = v1::FromProtoDuration(d).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(ns) / 1e6);
  return buf;
}

std::string OnErrorName(v1::OnError e) {
  switch (e) {
    case v1::ON_ERROR_TEMPFAIL:
      return "tempfail";
    case v1::ON_ERROR_REJECT:
      return "reject";
    default:
      return "continue";
  }
}

// Prints rows as left-aligned columns.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

// Worker-supplied text, escaped: a CR/LF from a worker must not forge lines of this output.
std::string Esc(const std::string& text) { return v1::EscapeForLog(text); }

std::string EditText(const v1::MessageEdit& e) {
  switch (e.edit_case()) {
    case v1::MessageEdit::kAddHeader:
      return "add_header " + Esc(e.add_header().name()) + ": " + Esc(e.add_header().value());
    case v1::MessageEdit::kInsertHeader:
      return "insert_header " + Esc(e.insert_header().name()) + ": " +
             Esc(e.insert_header().value());
    case v1::MessageEdit::kChangeHeader:
      return "change_header " + Esc(e.change_header().name()) + ": " +
             Esc(e.change_header().value());
    case v1::MessageEdit::kChangeSender:
      return "change_sender <" + Esc(e.change_sender().address()) + ">";
    case v1::MessageEdit::kAddRecipient:
      return "add_recipient <" + Esc(e.add_recipient().address()) + ">";
    case v1::MessageEdit::kDeleteRecipient:
      return "delete_recipient <" + Esc(e.delete_recipient().address()) + ">";
    case v1::MessageEdit::kQuarantine:
      return "quarantine " + Esc(e.quarantine().reason());
    case v1::MessageEdit::kDiscard:
      return "discard";
    case v1::MessageEdit::kReplaceBody:
      return "replace_body (" + std::to_string(e.replace_body().body().size()) + " octets)";
    default:
      return "?";
  }
}

}  // namespace

int Status(const Connection& c) {
  auto stub = v1::Admin::NewStub(Channel(c));
  v1::ListBindingsResponse list;
  {
    grpc::ClientContext context;
    Prepare(c, &context, true);
    const auto status = stub->ListBindings(&context, {}, &list);
    if (!status.ok()) return Fail("Admin.ListBindings", status);
  }
  v1::GetBindingStatsResponse stats;
  {
    grpc::ClientContext context;
    Prepare(c, &context, true);
    const auto status = stub->GetBindingStats(&context, {}, &stats);
    if (!status.ok()) return Fail("Admin.GetBindingStats", status);
  }
  std::map<std::string, v1::BindingStats> by_name;
  for (const auto& s : stats.stats()) by_name[s.name()] = s;
  std::cout << "bindings: " << list.bindings_size() << " from " << list.source() << " (generation "
            << list.generation() << ")\n";
  std::vector<std::vector<std::string>> rows{
      {"NAME", "INST", "EVENT", "PRIO", "MODE", "ENABLED", "SINK", "RULE", "TIMEOUT", "ON_ERROR",
       "MATCHED", "ANSWERED", "CACHED", "TIMEOUTS", "ERRORS", "CANCELLED", "P50", "P99"}};
  for (const auto& b : list.bindings()) {
    const auto& s = by_name[b.name()];
    rows.push_back(
        {b.name(), std::to_string(b.instance()), std::string(v1::EventTypeName(b.event())),
         std::to_string(b.priority()), b.mode() == v1::BINDING_MODE_OBSERVE ? "observe" : "enforce",
         b.enabled() ? "yes" : "no", b.sink(), b.rule(), Micros(b.timeout()),
         OnErrorName(b.on_error()), std::to_string(s.matched()), std::to_string(s.answered()),
         std::to_string(s.cached()), std::to_string(s.timeouts()), std::to_string(s.errors()),
         std::to_string(s.cancelled()), Micros(s.latency_p50()), Micros(s.latency_p99())});
  }
  PrintTable(rows);
  return 0;
}

int Reload(const Connection& c) {
  auto stub = v1::Admin::NewStub(Channel(c));
  grpc::ClientContext context;
  Prepare(c, &context, true);
  v1::ReloadResponse response;
  const auto status = stub->Reload(&context, {}, &response);
  if (!status.ok()) return Fail("Admin.Reload", status);
  if (!response.ok()) {
    for (const auto& e : response.errors()) std::cerr << e << "\n";
    std::cerr << "bridgectl: reload failed; the dispatcher keeps generation "
              << response.generation() << " (" << response.bindings() << " bindings)\n";
    return 2;
  }
  std::cout << "reloaded: generation " << response.generation() << ", " << response.bindings()
            << " binding(s)\n";
  return 0;
}

int TestEvent(const Connection& c, const TestEventOptions& o) {
  const auto type = v1::ParseEventType(o.event);
  if (!type) {
    std::cerr << "bridgectl: --event " << o.event << " is not an event type\n";
    return 2;
  }
  const auto budget = v1::ParseDurationText(o.budget);
  if (!budget || budget->count() <= 0) {
    std::cerr << "bridgectl: --budget " << o.budget << " is not a positive duration\n";
    return 2;
  }
  v1::EvaluateRequest request;
  request.set_explain(true);
  v1::Event& event = *request.mutable_event();
  event.set_event_id("bridgectl-" + std::to_string(::getpid()) + "-" +
                     std::to_string(std::chrono::system_clock::now().time_since_epoch().count()));
  event.set_type(*type);
  auto* session = event.mutable_session();
  session->set_session_id("bridgectl-" + std::to_string(::getpid()));
  session->set_instance(o.instance);
  session->set_host_kind(v1::HOST_KIND_TEST);
  session->set_host_name("bridgectl");
  session->mutable_client()->set_address(o.client);
  session->set_helo_name(o.helo);
  session->set_esmtp(true);
  auto* envelope = event.mutable_envelope();
  if (!o.sender.empty()) {
    envelope->set_sender(o.sender == "<>" ? "" : o.sender);
    envelope->set_has_sender(true);
  }
  for (const auto& r : o.recipients) envelope->add_recipients(r);
  if (!o.command.empty()) {
    auto* command = event.mutable_command();
    command->set_line(o.command);
    std::string keyword(dispatcher::CommandKeyword(*command));
    for (char& ch : keyword) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    command->set_argument(std::string(dispatcher::CommandArgument(*command)));
    command->set_keyword(keyword);
    const std::string path(dispatcher::ExtractPath(command->argument()));
    if (keyword == "MAIL") {
      envelope->set_sender(path);
      envelope->set_has_sender(true);
    } else if (keyword == "RCPT") {
      envelope->set_recipient(path);
      envelope->set_recipient_index(static_cast<uint32_t>(envelope->recipients_size()));
    } else if ((keyword == "EHLO" || keyword == "HELO") && o.helo.empty()) {
      session->set_helo_name(command->argument());
    }
  }
  if (o.response_code) event.mutable_response()->set_code(*o.response_code);
  if (!o.headers.empty() || !o.body.empty()) {
    auto* message = event.mutable_message();
    for (const auto& h : o.headers) {
      const auto colon = h.find(':');
      auto* header = message->add_headers();
      header->set_name(h.substr(0, colon));
      if (colon != std::string::npos) {
        const auto start = h.find_first_not_of(' ', colon + 1);
        header->set_value(start == std::string::npos ? "" : h.substr(start));
      }
    }
    message->set_body(o.body);
    message->set_size(o.body.size());
  }
  *event.mutable_time() = google::protobuf::Timestamp();
  event.mutable_time()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  *event.mutable_budget() = v1::ToProtoDuration(*budget);

  auto channel = Channel(c);
  // Connect first, so the round trip measures the call and not the TCP/HTTP2 handshake.
  channel->WaitForConnected(std::chrono::system_clock::now() +
                            std::chrono::milliseconds(c.timeout_ms));
  auto stub = v1::Dispatcher::NewStub(channel);
  grpc::ClientContext context;
  Prepare(c, &context, true);  // a test event is explained: that needs the admin token
  v1::EvaluateResponse response;
  const auto start = std::chrono::steady_clock::now();
  const auto status = stub->Evaluate(&context, request, &response);
  const auto round_trip = std::chrono::steady_clock::now() - start;
  if (!status.ok()) return Fail("Dispatcher.Evaluate", status);
  const double rt_ms = std::chrono::duration<double, std::milli>(round_trip).count();

  if (o.json) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(response, &json, options);
    nlohmann::json out;
    out["response"] = nlohmann::json::parse(json);
    out["round_trip_ms"] = rt_ms;
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  const auto& v = response.verdict();
  std::cout << "verdict:    " << v1::ActionName(v.action());
  if (v.has_reply() && v.reply().code() != 0) std::cout << " " << Esc(v1::ReplyText(v.reply()));
  std::cout << "\n";
  std::cout << "decided by: "
            << (response.decided_by().empty() ? "(every sink continued)" : response.decided_by())
            << "\n";
  if (!v.reason().empty()) std::cout << "reason:     " << Esc(v.reason()) << "\n";
  if (v.tags_size() > 0) {
    std::string tags;
    for (const auto& t : v.tags()) tags += (tags.empty() ? "" : ", ") + Esc(t);
    std::cout << "tags:       " << tags << "\n";
  }
  if (!v.command().set_command().empty())
    std::cout << "set command: " << Esc(v.command().set_command()) << "\n";
  if (!v.command().append().empty())
    std::cout << "append:     \"" << Esc(v.command().append()) << "\"\n";
  for (const auto& e : v.edits()) std::cout << "edit:       " << EditText(e) << "\n";
  std::cout << "matched:    " << response.matched() << " enforce binding(s)\n";
  if (response.outcomes_size() > 0) {
    std::vector<std::vector<std::string>> rows{
        {"BINDING", "PRIORITY", "OUTCOME", "LATENCY", "MODE", "VERDICT", "DETAIL"}};
    for (const auto& oc : response.outcomes()) {
      std::string verdict(v1::ActionName(oc.verdict().action()));
      if (oc.kind() == v1::SINK_OUTCOME_KIND_CANCELLED ||
          oc.kind() == v1::SINK_OUTCOME_KIND_UNSPECIFIED)
        verdict = "-";
      if (oc.verdict().has_reply() && oc.verdict().reply().code() != 0) {
        verdict += " " + std::to_string(oc.verdict().reply().code());
      }
      rows.push_back({oc.binding(), std::to_string(oc.priority()),
                      std::string(v1::OutcomeKindName(oc.kind())), Micros(oc.latency()),
                      oc.observed() ? "observe" : "enforce", verdict,
                      Esc(oc.error().empty() ? oc.verdict().reason() : oc.error())});
    }
    std::cout << "\n";
    PrintTable(rows);
    std::cout << "\n";
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "round trip: %.3fms (dispatcher %s)\n", rt_ms,
                Micros(response.elapsed()).c_str());
  std::cout << buf;
  return 0;
}

}  // namespace smtpbridge::bridgectl
