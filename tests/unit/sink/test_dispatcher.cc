#include "test_dispatcher.h"

#include <stdexcept>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

namespace smtpbridge::sink::testing {

class TestDispatcher::Service final : public v1::Dispatcher::Service {
 public:
  explicit Service(TestDispatcher* owner) : owner_(owner) {}

  grpc::Status Evaluate(grpc::ServerContext* context, const v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) override {
    owner_->evaluations_.fetch_add(1);
    const std::string what = request->event().command().argument() + " " +
                             request->event().envelope().recipient();
    if (what.find("unavailable") != std::string::npos) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "test dispatcher: unavailable");
    }
    if (what.find("late") != std::string::npos) {
      std::unique_lock lock(mu_);
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!released_ && !context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
        released_cv_.wait_for(lock, std::chrono::milliseconds(5));
      }
      if (context->IsCancelled()) owner_->cancelled_.fetch_add(1);
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
  v1::GetInterestsResponse interests_;
};

TestDispatcher::TestDispatcher(const std::string& listen,
                               std::shared_ptr<grpc::ServerCredentials> credentials)
    : service_(std::make_unique<Service>(this)) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, credentials ? credentials : grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) throw std::runtime_error("test dispatcher: cannot listen on " + listen);
}

TestDispatcher::~TestDispatcher() { Shutdown(); }

void TestDispatcher::ReleaseLate() { service_->Release(); }

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
