// A policy worker that answers from a script, for the host conformance vectors
// (tests/vectors/hosts/SPEC.md). It implements smtpbridge.v1.PolicySink on raw gRPC, without the
// SDK, so it can send what an SDK refuses to build: unknown actions, replies of the wrong class,
// CR/LF in text, injected ESMTP parameters. The dispatcher in front of it must catch those.
//
//   smtpbridge-scripted-worker --listen 127.0.0.1:0 --ready-file F --script S [--event-log L]
//
// S is re-read on every call (the runner rewrites it, through a rename, between vectors):
//   {"rules": [{"binding": "main", "type": "INBOUND_COMMAND", "keyword": "RCPT", "recipient":
//   "a@b",
//               "verdict": {...smtpbridge.v1.Verdict in proto3 JSON...}, "raw_action": 42,
//               "status": "UNAVAILABLE"}]}
// `binding` is the binding's `role` sink property (else its name). The first rule whose binding,
// type, keyword and recipient (each optional; keyword case-insensitive, "" matches the empty
// keyword; recipient = envelope.recipient) match the call answers it: with `status` an error, else
// `verdict`, its action replaced by `raw_action` when set. No match: CONTINUE. L gets one JSON line
// per call: binding, type, keyword, sender, recipient. It serves smtpbridge.v1.Dispatcher too
// (Evaluate from the same script, as role "main"; GetInterests: everything), so a host can use it
// as its dispatcher and get verdicts unvalidated.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "smtpbridge/common/ready_file.h"
#include "smtpbridge/grpc/server_options.h"
#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "smtpbridge/v1/sink.grpc.pb.h"

namespace {

using smtpbridge::v1::SinkRequest;
using smtpbridge::v1::Verdict;

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// "INBOUND_COMMAND" and "EVENT_TYPE_INBOUND_COMMAND" both name the type.
bool TypeMatches(const std::string& want, smtpbridge::v1::EventType type) {
  const std::string name = smtpbridge::v1::EventType_Name(type);
  return Upper(want) == name || "EVENT_TYPE_" + Upper(want) == name;
}

grpc::StatusCode StatusCodeByName(const std::string& name) {
  static const std::pair<const char*, grpc::StatusCode> kCodes[] = {
      {"UNAVAILABLE", grpc::StatusCode::UNAVAILABLE},
      {"INTERNAL", grpc::StatusCode::INTERNAL},
      {"INVALID_ARGUMENT", grpc::StatusCode::INVALID_ARGUMENT},
      {"RESOURCE_EXHAUSTED", grpc::StatusCode::RESOURCE_EXHAUSTED},
      {"UNKNOWN", grpc::StatusCode::UNKNOWN},
  };
  for (const auto& [n, code] : kCodes)
    if (name == n) return code;
  return grpc::StatusCode::INTERNAL;
}

class ScriptedSink final : public smtpbridge::v1::PolicySink::Service {
 public:
  ScriptedSink(std::string script, std::string event_log)
      : script_(std::move(script)), event_log_(std::move(event_log)) {}

  grpc::Status OnEvent(grpc::ServerContext*, const SinkRequest* request,
                       Verdict* verdict) override {
    Log(*request);
    return Answer(request->event(), Role(request->binding()), verdict);
  }

  // The answer of the first matching rule for `role` (see the top of this file).
  grpc::Status Answer(const smtpbridge::v1::Event& event, const std::string& role,
                      Verdict* verdict) {
    nlohmann::json script;
    {
      std::ifstream in(script_);
      std::stringstream text;
      text << in.rdbuf();
      if (text.str().empty()) return ContinueVerdict(verdict);
      script = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    }
    if (script.is_discarded() || !script.contains("rules")) {
      return {grpc::StatusCode::INTERNAL, "script " + script_ + " is not {\"rules\": [...]}"};
    }
    for (const auto& rule : script["rules"]) {
      if (rule.contains("binding") && rule["binding"].get<std::string>() != role) continue;
      if (rule.contains("type") && !TypeMatches(rule["type"].get<std::string>(), event.type()))
        continue;
      if (rule.contains("keyword") &&
          Upper(rule["keyword"].get<std::string>()) != Upper(event.command().keyword()))
        continue;
      if (rule.contains("recipient") &&
          rule["recipient"].get<std::string>() != event.envelope().recipient())
        continue;
      if (rule.contains("status")) {
        return {StatusCodeByName(rule["status"].get<std::string>()), "scripted error"};
      }
      if (rule.contains("verdict")) {
        const auto parsed =
            google::protobuf::util::JsonStringToMessage(rule["verdict"].dump(), verdict);
        if (!parsed.ok())
          return {grpc::StatusCode::INTERNAL, "bad verdict in script: " + parsed.ToString()};
      }
      // Values outside the enum cannot be written in proto3 JSON by name.
      if (rule.contains("raw_action"))
        verdict->set_action(static_cast<smtpbridge::v1::Action>(rule["raw_action"].get<int>()));
      return grpc::Status::OK;
    }
    return ContinueVerdict(verdict);
  }

 private:
  // A binding's `role` sink property, else its name: several bindings can share one role.
  static std::string Role(const smtpbridge::v1::Binding& binding) {
    const auto it = binding.sink_properties().find("role");
    return it != binding.sink_properties().end() ? it->second : binding.name();
  }

  static grpc::Status ContinueVerdict(Verdict* verdict) {
    verdict->set_action(smtpbridge::v1::ACTION_CONTINUE);
    return grpc::Status::OK;
  }

  void Log(const SinkRequest& request) { Log(request.binding().name(), request.event()); }

 public:
  void Log(const std::string& binding, const smtpbridge::v1::Event& event) {
    if (event_log_.empty()) return;
    nlohmann::json line = {
        {"binding", binding},
        {"type", smtpbridge::v1::EventType_Name(event.type())},
        {"keyword", event.command().keyword()},
        {"sender", event.envelope().sender()},
        {"has_sender", event.envelope().has_sender()},
        {"recipient", event.envelope().recipient()},
    };
    std::lock_guard lock(mu_);
    std::ofstream out(event_log_, std::ios::app);
    out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }

 private:
  const std::string script_;
  const std::string event_log_;
  std::mutex mu_;
};

// The same script behind Dispatcher.Evaluate, so a host can be pointed at this process directly:
// its verdicts then reach the host unvalidated, which is how the vectors reach the hosts' own
// defence (docs/verdicts.md: "a host that still gets one ..."). Rules answer as role "main".
class ScriptedDispatcher final : public smtpbridge::v1::Dispatcher::Service {
 public:
  explicit ScriptedDispatcher(ScriptedSink& sink) : sink_(sink) {}

  grpc::Status Evaluate(grpc::ServerContext*, const smtpbridge::v1::EvaluateRequest* request,
                        smtpbridge::v1::EvaluateResponse* response) override {
    sink_.Log("direct", request->event());
    return sink_.Answer(request->event(), "main", response->mutable_verdict());
  }

  // Every event type of every instance, any keyword; no EvaluateStream (hosts stay unary).
  grpc::Status GetInterests(grpc::ServerContext*, const smtpbridge::v1::GetInterestsRequest*,
                            smtpbridge::v1::GetInterestsResponse* response) override {
    for (int type = 1; smtpbridge::v1::EventType_IsValid(type); ++type) {
      auto* interest = response->add_interests();
      interest->set_event(static_cast<smtpbridge::v1::EventType>(type));
      if (type == smtpbridge::v1::EVENT_TYPE_INBOUND_COMMAND) interest->set_body_limit(65536);
    }
    response->set_generation(1);
    response->mutable_refresh_after()->set_seconds(60);
    return grpc::Status::OK;
  }

 private:
  ScriptedSink& sink_;
};

std::unique_ptr<grpc::Server> g_server;

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", ready_file, script, event_log;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--listen")
      listen = value;
    else if (flag == "--ready-file")
      ready_file = value;
    else if (flag == "--script")
      script = value;
    else if (flag == "--event-log")
      event_log = value;
    else {
      std::cerr << "scripted-worker: unknown flag " << flag << "\n";
      return 1;
    }
  }
  if (script.empty() || argc % 2 == 0) {
    std::cerr
        << "usage: smtpbridge-scripted-worker --script FILE [--listen HOST:PORT] [--ready-file F] "
           "[--event-log F]\n";
    return 1;
  }
  // SIGTERM / SIGINT: stop at once (the runner stops it when every vector ran). Blocked before
  // gRPC starts its threads, so only the waiter below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  grpc::EnableDefaultHealthCheckService(true);
  ScriptedSink service(script, event_log);
  grpc::ServerBuilder builder;
  smtpbridge::grpc_server::ApplyServerArgs(builder, {});
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  ScriptedDispatcher dispatcher(service);
  builder.RegisterService(&dispatcher);
  g_server = builder.BuildAndStart();
  if (!g_server || port == 0) {
    std::cerr << "scripted-worker: cannot listen on " << listen << "\n";
    return 1;
  }
  // The dispatcher's channels health-check the PolicySink service by name, the hosts' the
  // Dispatcher service (client_channel.h).
  g_server->GetHealthCheckService()->SetServingStatus(
      smtpbridge::v1::PolicySink::service_full_name(), true);
  g_server->GetHealthCheckService()->SetServingStatus(
      smtpbridge::v1::Dispatcher::service_full_name(), true);
  const std::string bound = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
  std::string error;
  if (!ready_file.empty() && !smtpbridge::common::WriteReadyFile(ready_file, bound, &error)) {
    std::cerr << "scripted-worker: " << error << "\n";
    return 1;
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    g_server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  });
  g_server->Wait();
  waiter.join();
  g_server.reset();
  return 0;
}
