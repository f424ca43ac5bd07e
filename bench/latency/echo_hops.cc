#include "echo_hops.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "smtpbridge/common/ready_file.h"
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

  grpc::ServerUnaryReactor* Evaluate(grpc::CallbackServerContext*,
                                     const v1::EvaluateRequest* request,
                                     v1::EvaluateResponse* response) override {
    return new ForwardReactor(next_.get(), request, response);
  }

 private:
  std::unique_ptr<v1::PolicySink::Stub> next_;
};

// The completion-queue flavour: `threads` threads, each driving its own ServerCompletionQueue
// with Next(). A request and the call it forwards live on the same CQ, hence the same thread:
// no hand-off between gRPC's threads and ours.
class CqForwarder {
 public:
  explicit CqForwarder(const std::string& target)
      : next_(v1::PolicySink::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {}

  void AddTo(grpc::ServerBuilder& builder, size_t threads) {
    builder.RegisterService(&service_);
    for (size_t i = 0; i < threads; ++i) cqs_.push_back(builder.AddCompletionQueue());
  }
  void Start() {
    for (auto& cq : cqs_) {
      // A few calls requested up front per CQ, so a burst does not wait for re-arming.
      for (int i = 0; i < 4; ++i) new Call(this, cq.get());
      threads_.emplace_back([cq = cq.get()] {
        void* tag = nullptr;
        bool ok = false;
        while (cq->Next(&tag, &ok)) static_cast<Call*>(tag)->Proceed(ok);
      });
    }
  }
  // After Server::Shutdown(): every call has finished, so nothing new reaches the CQs.
  void Stop() {
    for (auto& cq : cqs_) cq->Shutdown();
    for (auto& t : threads_) t.join();
  }

 private:
  struct Call {
    enum class State { kRequested, kForwarding, kFinishing };
    Call(CqForwarder* owner, grpc::ServerCompletionQueue* cq)
        : owner(owner), cq(cq), responder(&server_ctx) {
      owner->service_.RequestEvaluate(&server_ctx, &request, &responder, cq, cq, this);
    }
    void Proceed(bool ok) {
      switch (state) {
        case State::kRequested:
          if (!ok) {  // server shutting down
            delete this;
            return;
          }
          new Call(owner, cq);  // re-arm
          state = State::kForwarding;
          *out.mutable_event() = request.event();
          client_ctx.set_deadline(server_ctx.deadline());
          rpc = owner->next_->PrepareAsyncOnEvent(&client_ctx, out, cq);
          rpc->StartCall();
          rpc->Finish(&verdict, &status, this);
          return;
        case State::kForwarding:
          if (status.ok()) *response.mutable_verdict() = verdict;
          state = State::kFinishing;
          responder.Finish(response, status, this);
          return;
        case State::kFinishing:
          delete this;
          return;
      }
    }
    CqForwarder* owner;
    grpc::ServerCompletionQueue* cq;
    State state = State::kRequested;
    grpc::ServerContext server_ctx;
    v1::EvaluateRequest request;
    v1::EvaluateResponse response;
    grpc::ServerAsyncResponseWriter<v1::EvaluateResponse> responder;
    grpc::ClientContext client_ctx;
    v1::SinkRequest out;
    v1::Verdict verdict;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::Verdict>> rpc;
  };

  v1::Dispatcher::AsyncService service_;
  std::unique_ptr<v1::PolicySink::Stub> next_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::vector<std::thread> threads_;
};

// Also the echo on the CQ API (one thread per CQ), for a baseline with no callback API at all.
class CqEcho {
 public:
  void AddTo(grpc::ServerBuilder& builder, size_t threads) {
    builder.RegisterService(&service_);
    for (size_t i = 0; i < threads; ++i) cqs_.push_back(builder.AddCompletionQueue());
  }
  void Start() {
    for (auto& cq : cqs_) {
      for (int i = 0; i < 4; ++i) new Call(this, cq.get());
      threads_.emplace_back([cq = cq.get()] {
        void* tag = nullptr;
        bool ok = false;
        while (cq->Next(&tag, &ok)) static_cast<Call*>(tag)->Proceed(ok);
      });
    }
  }
  void Stop() {
    for (auto& cq : cqs_) cq->Shutdown();
    for (auto& t : threads_) t.join();
  }

 private:
  struct Call {
    Call(CqEcho* owner, grpc::ServerCompletionQueue* cq) : owner(owner), cq(cq), responder(&ctx) {
      owner->service_.RequestOnEvent(&ctx, &request, &responder, cq, cq, this);
    }
    void Proceed(bool ok) {
      if (!ok || finishing) {
        delete this;
        return;
      }
      new Call(owner, cq);
      finishing = true;
      v1::Verdict verdict;
      verdict.set_action(v1::ACTION_CONTINUE);
      responder.Finish(verdict, grpc::Status::OK, this);
    }
    CqEcho* owner;
    grpc::ServerCompletionQueue* cq;
    bool finishing = false;
    grpc::ServerContext ctx;
    v1::SinkRequest request;
    grpc::ServerAsyncResponseWriter<v1::Verdict> responder;
  };

  v1::PolicySink::AsyncService service_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs_;
  std::vector<std::thread> threads_;
};

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before gRPC starts its threads
  return signals;
}

bool WriteReady(const std::string& listen, int port, const std::string& ready_file) {
  if (port == 0) {
    std::fprintf(stderr, "cannot listen on %s\n", listen.c_str());
    return false;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  return smtpbridge::common::WriteReadyFile(ready_file, host + ':' + std::to_string(port));
}

template <typename Cq>
int ServeCq(Cq& impl, size_t threads, const std::string& listen, const std::string& ready_file) {
  sigset_t signals = BlockStopSignals();
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  impl.AddTo(builder, std::max<size_t>(1, threads));
  auto server = builder.BuildAndStart();
  if (!server || !WriteReady(listen, port, ready_file)) return 1;
  impl.Start();
  int signo = 0;
  sigwait(&signals, &signo);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  impl.Stop();
  return 0;
}

int Serve(grpc::Service* service, const std::string& listen, const std::string& ready_file) {
  sigset_t signals = BlockStopSignals();
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  auto server = builder.BuildAndStart();
  if (!server || !WriteReady(listen, port, ready_file)) return 1;
  int signo = 0;
  sigwait(&signals, &signo);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  return 0;
}

}  // namespace

int RunEchoServer(const std::string& listen, const std::string& ready_file, Api api,
                  size_t threads) {
  if (api == Api::kCq) {
    CqEcho echo;
    return ServeCq(echo, threads, listen, ready_file);
  }
  EchoService service;
  return Serve(&service, listen, ready_file);
}

int RunForwarder(const std::string& listen, const std::string& target,
                 const std::string& ready_file, Api api, size_t threads) {
  if (api == Api::kCq) {
    CqForwarder forwarder("ipv4:" + target);
    return ServeCq(forwarder, threads, listen, ready_file);
  }
  ForwarderService service("ipv4:" + target);
  return Serve(&service, listen, ready_file);
}

}  // namespace smtpbridge::bench
