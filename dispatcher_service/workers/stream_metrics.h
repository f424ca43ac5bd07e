// The worker streams' metrics (worker_stream.h), registered beside the dispatcher's others:
// how many requests each OnEvents message carried, and how often an endpoint fell back to unary
// OnEvent because its worker lacks OnEvents (with a log line naming it).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "workers/worker_stream.h"

namespace smtpbridge::dispatcher {

class StreamMetrics final : public StreamListener {
 public:
  explicit StreamMetrics(prometheus::Registry& registry);
  void OnBatch(size_t requests) override;
  void OnUnaryFallback(const std::string& target, const std::string& endpoint,
                       const char* why) override;

 private:
  prometheus::Histogram& batch_;
  prometheus::Family<prometheus::Counter>& fallbacks_;
};

}  // namespace smtpbridge::dispatcher
