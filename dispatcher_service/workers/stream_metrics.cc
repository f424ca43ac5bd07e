#include "workers/stream_metrics.h"

#include <spdlog/spdlog.h>

namespace smtpbridge::dispatcher {

StreamMetrics::StreamMetrics(prometheus::Registry& registry)
    : batch_(prometheus::BuildHistogram()
                 .Name("smtpbridge_dispatcher_worker_stream_batch_requests")
                 .Help("Requests per OnEvents message sent to a worker (1 when nothing queued "
                       "behind a write)")
                 .Register(registry)
                 .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64})),
      fallbacks_(
          prometheus::BuildCounter()
              .Name("smtpbridge_dispatcher_worker_unary_fallbacks_total")
              .Help("Worker endpoints that answered OnEvents UNIMPLEMENTED and use unary OnEvent "
                    "for a while, by pool")
              .Register(registry)) {}

void StreamMetrics::OnBatch(size_t requests) { batch_.Observe(static_cast<double>(requests)); }

void StreamMetrics::OnUnaryFallback(const std::string& target, const std::string& endpoint,
                                    const char* why) {
  fallbacks_.Add({{"pool", target}}).Increment();
  spdlog::info("worker pool={} endpoint={} does not serve OnEvents ({}): unary OnEvent for a while",
               target, endpoint, why);
}

}  // namespace smtpbridge::dispatcher
