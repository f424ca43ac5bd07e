#include "test_dispatcher.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace smtpbridge::sink::testing {

class TestDispatcher::Service final : public v1::Dispatcher::Service {
 public:
  explicit Service(TestDispatcher* owner) : owner_(owner) {}

  grpc::Status Evaluate(grpc::ServerContext* context, const v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) override {
    owner_->evaluations_.fetch_add(1);
    return Decide([context] { return context->IsCancelled(); }, *request, response);
  }

  // The requests of a message answered together, but each "late" one on its own thread (so it
  // holds up nothing else); "unavailable" ends the whole stream with UNAVAILABLE at once, and
  // what was still being decided is never sent.
  grpc::Status EvaluateStream(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::EvaluateResponses, v1::EvaluateRequests>* stream) override {
    if (!owner_->serve_stream_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
    owner_->streams_.fetch_add(1);
    struct Writer {
      std::mutex mu;
      bool ended = false;
      int busy = 0;
      std::condition_variable idle;
    };
    auto writer = std::make_shared<Writer>();
    grpc::Status ending = grpc::Status::OK;
    v1::EvaluateRequests batch;
    while (ending.ok() && stream->Read(&batch)) {
      std::vector<std::string> arguments;
      for (const auto& request : batch.requests())
        arguments.push_back(request.event().command().argument());
      {
        std::lock_guard lock(owner_->messages_mu_);
        owner_->messages_.push_back(arguments);
        owner_->stream_evaluations_.fetch_add(batch.requests_size());
        owner_->messages_cv_.notify_all();
      }
      v1::EvaluateResponses quick;
      for (const auto& request : batch.requests()) {
        const std::string& argument = request.event().command().argument();
        if (argument.find("unavailable") != std::string::npos) {
          ending = grpc::Status(grpc::StatusCode::UNAVAILABLE, "test dispatcher: unavailable");
          break;
        }
        if (argument.find("late") == std::string::npos &&
            argument.find("gated") == std::string::npos) {
          v1::EvaluateResponse* response = quick.add_responses();
          Decide([] { return false; }, request, response);
          response->set_stream_id(request.stream_id());
          continue;
        }
        {
          std::lock_guard lock(writer->mu);
          ++writer->busy;
        }
        std::thread([this, stream, writer, request] {
          v1::EvaluateResponses late;
          v1::EvaluateResponse* response = late.add_responses();
          // (not the stream's context: it is gone once the handler returns)
          Decide(
              [writer] {
                std::lock_guard lock(writer->mu);
                return writer->ended;
              },
              request, response);
          response->set_stream_id(request.stream_id());
          std::lock_guard lock(writer->mu);
          if (!writer->ended) stream->Write(late);
          if (--writer->busy == 0) writer->idle.notify_all();
        }).detach();
      }
      if (ending.ok() && quick.responses_size() > 0) {
        std::lock_guard lock(writer->mu);
        stream->Write(quick);
      }
    }
    std::unique_lock lock(writer->mu);
    if (ending.ok()) {  // half-closed: answer everything first
      writer->idle.wait(lock, [&] { return writer->busy == 0; });
    }
    writer->ended = true;
    // Ending early, the threads still deciding see `ended` (as a cancellation) and stop within a
    // few ms without writing: wait for them, so none outlives this service.
    writer->idle.wait(lock, [&] { return writer->busy == 0; });
    return ending;
  }

  grpc::Status Decide(const std::function<bool()>& cancelled, const v1::EvaluateRequest& request,
                      v1::EvaluateResponse* response) {
    const std::string what =
        request.event().command().argument() + " " + request.event().envelope().recipient();
    if (what.find("unavailable") != std::string::npos) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "test dispatcher: unavailable");
    }
    for (auto [word, released] : {std::pair{"late", &released_}, std::pair{"gated", &gate_open_}}) {
      if (what.find(word) == std::string::npos) continue;
      std::unique_lock lock(mu_);
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!*released && !cancelled() && std::chrono::steady_clock::now() < give_up) {
        released_cv_.wait_for(lock, std::chrono::milliseconds(5));
      }
      if (cancelled()) owner_->cancelled_.fetch_add(1);
    }
    if (what.find("reject") != std::string::npos) {
      v1::Verdict* v = response->mutable_verdict();
      v->set_action(v1::ACTION_REJECT);
      v->mutable_reply()->set_code(550);
      v->mutable_reply()->set_enhanced_code("5.7.1");
      v->mutable_reply()->add_lines("Rejected by test dispatcher");
      response->set_decided_by("test-reject");
    } else {
      response->mutable_verdict()->set_action(v1::ACTION_CONTINUE);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetInterests(grpc::ServerContext*, const v1::GetInterestsRequest*,
                            v1::GetInterestsResponse* response) override {
    std::lock_guard lock(mu_);
    *response = interests_;
    return grpc::Status::OK;
  }

  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    gate_open_ = true;
    released_cv_.notify_all();
  }

  void OpenGate() {
    std::lock_guard lock(mu_);
    gate_open_ = true;
    released_cv_.notify_all();
  }

  void SetInterests(const v1::GetInterestsResponse& interests) {
    std::lock_guard lock(mu_);
    interests_ = interests;
  }

 private:
  TestDispatcher* owner_;
  std::mutex mu_;
  std::condition_variable released_cv_;
  bool released_ = false;
  bool gate_open_ = false;
  v1::GetInterestsResponse interests_;
};

TestDispatcher::TestDispatcher(const std::string& listen,
                               std::shared_ptr<grpc::ServerCredentials> credentials,
                               bool serve_stream)
    : service_(std::make_unique<Service>(this)), serve_stream_(serve_stream) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, credentials ? credentials : grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0)
    throw std::runtime_error("test dispatcher: cannot listen on " + listen);
}

TestDispatcher::~TestDispatcher() { Shutdown(); }

void TestDispatcher::ReleaseLate() { service_->Release(); }

void TestDispatcher::OpenGate() { service_->OpenGate(); }

std::vector<std::vector<std::string>> TestDispatcher::stream_messages() const {
  std::lock_guard lock(messages_mu_);
  return messages_;
}

bool TestDispatcher::WaitStreamEvaluations(int n) {
  std::unique_lock lock(messages_mu_);
  return messages_cv_.wait_for(lock, std::chrono::seconds(20),
                               [&] { return stream_evaluations_.load() >= n; });
}

void TestDispatcher::SetInterests(const v1::GetInterestsResponse& interests) {
  service_->SetInterests(interests);
}

void TestDispatcher::Shutdown() {
  if (!server_) return;
  service_->Release();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
}

}  // namespace smtpbridge::sink::testing
