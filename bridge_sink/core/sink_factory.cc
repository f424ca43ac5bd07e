// MakeSink: the only place that creates the real gRPC dispatcher client.
#include <stdexcept>

#include "smtpbridge/sink/sink_factory.h"

namespace smtpbridge::sink {
namespace {

// Placeholder until the gRPC-backed core lands: answers every event from the default verdict.
class DefaultOnlySink final : public Sink {
 public:
  explicit DefaultOnlySink(SinkOptions options) : options_(std::move(options)) {}
  void Evaluate(v1::Event event, std::chrono::microseconds budget,
                EvaluationCallback done) override {
    Evaluation e;
    auto it = options_.default_verdicts.find(event.type());
    e.verdict = it != options_.default_verdicts.end() ? it->second : options_.default_verdict;
    e.source = VerdictSource::kDefault;
    e.reason = FallbackReason::kUnavailable;
    done(std::move(e));
  }
  bool Wants(uint32_t, v1::EventType, std::string_view) const override { return true; }
  uint32_t BodyLimit(uint32_t) const override { return options_.interests.unknown_body_limit; }
  void Shutdown() override {}

 private:
  SinkOptions options_;
};

}  // namespace

SinkOptions LoadSinkOptions(const std::string& yaml_path) {
  throw std::runtime_error(yaml_path + ": sink config loading not implemented yet");
}

std::unique_ptr<Sink> MakeSink(const SinkOptions& options) {
  return std::make_unique<DefaultOnlySink>(options);
}

}  // namespace smtpbridge::sink
