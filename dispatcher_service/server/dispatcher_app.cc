#include "server/dispatcher_app.h"

#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "smtpbridge/grpc/server_options.h"

namespace smtpbridge::dispatcher {
namespace {

// Linking libgrpc++_reflection registers its plugin at static initialisation, so every server
// in the process serves reflection (a sync-API service: gRPC starts a sync polling thread for
// it, idle unless reflection is used). This option drops the plugin from our builder when
// reflection is turned off.
class DropReflectionOption final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    std::erase_if(*plugins, [](const auto& p) { return p->name() == "proto_server_reflection"; });
  }
};

}  // namespace

std::string ReplacePort(const std::string& listen, int port) {
  const auto colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return host + ":" + std::to_string(port);
}

bool IsLoopback(const std::string& listen) {
  const auto colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return host == "localhost" || host == "[::1]" || host == "::1" || host.rfind("127.", 0) == 0 ||
         listen.rfind("unix:", 0) == 0;
}

size_t EffectiveThreads(size_t threads) {
  if (threads > 0) return threads;
  return std::max(1u, std::thread::hardware_concurrency() / 2);
}

DispatcherApp::DispatcherApp(AppOptions options)
    : options_(std::move(options)), cache_(options_.cache_entries) {}

std::unique_ptr<DispatcherApp> DispatcherApp::Create(AppOptions options,
                                                     std::vector<std::string>* errors) {
  std::unique_ptr<DispatcherApp> app(new DispatcherApp(std::move(options)));
  try {
    app->metrics_ = std::make_unique<Metrics>(app->options_.metrics_listen);
  } catch (const std::exception& e) {
    errors->push_back("--metrics-listen " + app->options_.metrics_listen + ": " + e.what());
    return nullptr;
  }
  app->recorder_ = std::make_unique<Recorder>(&app->stats_, app->metrics_.get(), &app->clock_);
  app->channels_.set_listener(app->recorder_.get());
  app->stream_metrics_ = std::make_unique<StreamMetrics>(app->metrics_->registry());
  app->client_.set_stream_listener(app->stream_metrics_.get());
  std::string log_error;
  app->decision_log_ = DecisionLog::Open(app->options_.decision_log, &log_error);
  if (!log_error.empty()) {
    errors->push_back(log_error);
    return nullptr;
  }
  if (app->decision_log_) app->decision_log_->ExportTo(app->metrics_->registry());
  app->recorder_->SetDecisionLog(app->decision_log_.get());
  app->fanout_ =
      std::make_unique<FanOut>(&app->client_, &app->clock_, &app->cache_, app->recorder_.get());
  app->admission_ = std::make_unique<Admission>(app->options_.admission);
  app->fanout_->set_admission(app->admission_.get());
  app->metrics_->AddCollector([raw = app.get()] { return AdmissionGauges(*raw->admission_); });
  DispatcherApp* raw = app.get();
  app->channels_.SetCredentialsFactory(
      [raw](const std::string& target, grpc::ChannelArguments* args) {
        return raw->worker_credentials_.Configure(target, args);
      });
  app->store_ = std::make_unique<BindingsStore>(
      app->options_.bindings_path,
      [raw](const std::shared_ptr<const BindingSet>& set) {
        // Cached verdicts belong to the old bindings (rules or sinks may have changed).
        raw->cache_.Clear();
        raw->worker_credentials_.Update(*set);
        std::set<std::string> targets;
        std::map<std::string, std::string> users;  // sink -> its bindings, for log lines
        for (const auto& b : set->bindings()) {
          targets.insert(b.proto.sink());
          auto& names = users[b.proto.sink()];
          names += (names.empty() ? "" : ", ") + b.proto.name();
        }
        for (const auto& t : targets) {
          raw->channels_.NameUsers(t, users[t]);
          raw->channels_.Warm(t);
        }
        raw->channels_.Retain(targets);  // close the channels of targets no binding names
        if (raw->admission_) raw->admission_->Retain(targets);
        raw->metrics_->Reload(true, set->bindings().size());
      },
      [raw](const std::vector<std::string>&) { raw->metrics_->Reload(false, 0); });
  ReloadOutcome outcome = app->store_->Reload();
  if (!outcome.ok) {
    *errors = std::move(outcome.errors);
    return nullptr;
  }
  return app;
}

DispatcherApp::~DispatcherApp() {
  Shutdown();
  // Stop the exposer first: its scrape threads read the admission gauges (members destroyed
  // before metrics_ otherwise).
  metrics_.reset();
}

bool DispatcherApp::Start(std::string* error) {
  if (options_.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  dispatcher_service_ = std::make_unique<DispatcherService>(fanout_.get(), store_.get(), &cqs_);
  admin_service_ =
      std::make_unique<AdminService>(store_.get(), &stats_, options_.admin_token, &cqs_);
  admin_auth_ = std::make_unique<AdminAuth>(options_.admin_token);
  dispatcher_service_->SetAdminAuth(admin_auth_.get());
  dispatcher_service_->SetMetrics(metrics_.get());
  health_service_ = std::make_unique<HealthService>(&cqs_);
  grpc::ServerBuilder builder;
  // Ours serves grpc.health.v1.Health; never gRPC's default one (callback API), even when
  // something else in the process enabled it.
  builder.SetOption(std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
  if (!options_.reflection) builder.SetOption(std::make_unique<DropReflectionOption>());
  // No SO_REUSEPORT, client keepalive allowed, the max connection age (server_options.h).
  grpc_server::ApplyServerArgs(builder,
                               {options_.max_connection_age, options_.max_connection_age_grace});
  int port = 0;
  std::string tls_error;
  const auto credentials = tls::MakeServerCredentials(options_.tls, &tls_error);
  if (!credentials) {
    *error = tls_error;
    return false;
  }
  if (!options_.tls.enabled && !IsLoopback(options_.listen)) {
    spdlog::warn(
        "listening on {} in plaintext: turn on mutual TLS (--tls-cert, --tls-key, "
        "--tls-client-ca) unless a mesh encrypts this hop",
        options_.listen);
  }
  builder.AddListeningPort(options_.listen, credentials, &port);
  builder.RegisterService(dispatcher_service_.get());
  builder.RegisterService(admin_service_.get());
  builder.RegisterService(health_service_.get());
  cqs_.AddTo(builder, EffectiveThreads(options_.threads));
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    *error = "cannot listen on " + options_.listen;
    if (server_) server_->Shutdown();
    server_.reset();
    cqs_.Shutdown();
    return false;
  }
  cqs_.Start([this](grpc::ServerCompletionQueue* cq) {
    dispatcher_service_->Arm(cq);
    admin_service_->Arm(cq);
    health_service_->Arm(cq);
  });
  address_ = ReplacePort(options_.listen, port);
  if (options_.watch_interval.count() > 0) store_->StartWatching(options_.watch_interval);
  channels_.Start();  // re-resolves dns worker targets
  spdlog::info(
      "dispatcher listening on {} (bindings {}, generation {}, {} thread(s){}{})", address_,
      store_->path(), store_->generation(), cqs_.size(), options_.reflection ? ", reflection" : "",
      options_.max_connection_age.count() > 0
          ? ", max connection age " + std::to_string(options_.max_connection_age.count()) + " ms"
          : std::string{},
      options_.tls.enabled ? ", mutual TLS" : "");
  return true;
}

bool DispatcherApp::Shutdown() {
  if (shut_down_) return true;
  shut_down_ = true;
  if (store_) store_->StopWatching();  // null when Create() failed before the store
  bool drained = true;
  if (server_) {
    // Health goes NOT_SERVING first: clients' health checks (Watch) take this replica out of
    // their round_robin, so new calls and streams go to the others.
    health_service_->SetServing(false);
    const auto handoff_until = std::chrono::steady_clock::now() +
                               std::min(options_.stream_handoff, options_.drain_timeout);
    health_service_->WaitWatchersTold(std::min(options_.stream_handoff, options_.drain_timeout));
    // Sinks replace their stream every second, now on another replica: wait (bounded) until
    // they did, so no request is in flight on a stream when it ends.
    while (dispatcher_service_->open_streams() > 0 &&
           std::chrono::steady_clock::now() < handoff_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Open EvaluateStreams still here end themselves once what they read is answered (left
    // alone, gRPC would only cancel them at the deadline); so do the Watch streams.
    dispatcher_service_->DrainStreams();
    health_service_->EndWatches();
    // Stop accepting; in-flight RPCs get until the deadline, then are cancelled.
    const auto deadline = std::chrono::system_clock::now() + options_.drain_timeout;
    server_->Shutdown(deadline);
    server_->Wait();
  }
  // Observe-mode calls may still be running after their events were answered; they end by
  // their own deadlines, which the clock must keep firing.
  if (fanout_ && !fanout_->Drain(options_.drain_timeout)) {
    spdlog::warn("shutdown: {} evaluation(s) still running after {} ms", fanout_->live(),
                 options_.drain_timeout.count());
    drained = false;
  }
  // Every answered event's calls have ended (or the drain timed out): close the queues; their
  // threads drain what is left (unanswerable calls are dropped, worker calls report UNAVAILABLE).
  // Worker streams end first (their reads would keep the queues from draining).
  client_.CloseStreams();
  cqs_.Shutdown();
  channels_.Stop();
  clock_.Stop();
  return drained;
}

}  // namespace smtpbridge::dispatcher
