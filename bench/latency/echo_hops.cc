#include "echo_hops.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "smtpbridge/v1/dispatcher.grpc.pb.h"
#include "smtpbridge/v1/sink.grpc.pb.h"

namespace smtpbridge::bench {
namespace {

class EchoService final : public v1::PolicySink::CallbackService {
  grpc::ServerUnaryReactor* OnEvent(grpc::CallbackServerContext* ctx, const v1::SinkRequest*,
                                    v1::Verdict* verdict) override {
    verdict->set_action(v1::ACTION_CONTINUE);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// One forwarded call: the client's reactor waits on the next hop's callback.
class ForwardReactor final : public grpc::ServerUnaryReactor {
 public:
  ForwardReactor(v1::PolicySink::Stub* next, const v1::EvaluateRequest* request,
                 v1::EvaluateResponse* response)
      : response_(response) {
    *out_.mutable_event() = request->event();
    next->async()->OnEvent(&ctx_, &out_, &verdict_, [this](grpc::Status status) {
      if (status.ok()) *response_->mutable_verdict() = verdict_;
      Finish(status);
    });
  }
  void OnCancel() override { ctx_.TryCancel(); }
  void OnDone() override { delete this; }

 private:
  grpc::ClientContext ctx_;
  v1::SinkRequest out_;
  v1::Verdict verdict_;
  v1::EvaluateResponse* response_;
};

class ForwarderService final : public v1::Dispatcher::CallbackService {
 public:
  explicit ForwarderService(const std::string& target)
      : next_(v1::PolicySink::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {}

  grpc::ServerUnaryReactor* Evaluate(grpc::CallbackServerContext*, const v1::EvaluateRequest* request,
                                     v1::EvaluateResponse* response) override {
    return new ForwardReactor(next_.get(), request, response);
  }

 private:
  std::unique_ptr<v1::PolicySink::Stub> next_;
};

int Serve(grpc::Service* service, const std::string& listen, const std::string& ready_file) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before gRPC starts its threads
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "cannot listen on %s\n", listen.c_str());
    return 1;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  {
    std::ofstream(ready_file + ".tmp") << host << ':' << port << '\n';
  }
  std::filesystem::rename(ready_file + ".tmp", ready_file);
  int signo = 0;
  sigwait(&signals, &signo);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  return 0;
}

}  // namespace

int RunEchoServer(const std::string& listen, const std::string& ready_file) {
  EchoService service;
  return Serve(&service, listen, ready_file);
}

int RunForwarder(const std::string& listen, const std::string& target, const std::string& ready_file) {
  ForwarderService service("ipv4:" + target);
  return Serve(&service, listen, ready_file);
}

}  // namespace smtpbridge::bench
