// Test support: serves PolicySink.OnEvents for a test worker written with OnEvent only, so the
// same scripted worker runs under the dispatcher's stream and unary transports. Each request of
// a batch goes to OnEvent on a thread of its own (a slow one holds back nothing), with the
// stream's context (cancelling the stream reaches every handler), and its answer is written
// back with its stream_id. `cancel` is ignored, as sink.proto allows.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "smtpbridge/v1/sink.grpc.pb.h"

namespace smtpbridge::dispatcher {

template <typename Worker>
class WithOnEvents final : public Worker {
 public:
  using Worker::Worker;

  grpc::Status OnEvents(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::SinkAnswers, v1::SinkRequests>* stream) override {
    ++streams;
    std::mutex write_mu;
    std::vector<std::thread> handlers;
    v1::SinkRequests batch;
    while (stream->Read(&batch)) {
      for (const auto& request : batch.requests()) {
        handlers.emplace_back([this, context, stream, &write_mu, request] {
          v1::Verdict verdict;
          const grpc::Status status = this->OnEvent(context, &request, &verdict);
          v1::SinkAnswers answers;
          auto* answer = answers.add_answers();
          answer->set_stream_id(request.stream_id());
          if (status.ok()) {
            *answer->mutable_verdict() = verdict;
          } else {
            answer->set_error_code(status.error_code());
            answer->set_error_message(status.error_message());
          }
          std::lock_guard lock(write_mu);
          stream->Write(answers);
        });
      }
    }
    for (auto& t : handlers) t.join();
    return grpc::Status::OK;
  }

  std::atomic<int> streams{0};  // OnEvents streams opened
};

}  // namespace smtpbridge::dispatcher
