// MakeSink: the only place that creates the real gRPC dispatcher client and timer thread.
#include <stdexcept>

#include "core/grpc_dispatcher_client.h"
#include "core/local_rules.h"
#include "core/sink_core.h"
#include "core/thread_timers.h"
#include "smtpbridge/sink/sink_factory.h"

namespace smtpbridge::sink {

std::unique_ptr<Sink> MakeSink(const SinkOptions& options) {
  if (options.dispatcher_target.empty()) {
    throw std::runtime_error("sink: the dispatcher target is empty");
  }
  LocalRules rules;
  if (!options.local_rules_file.empty()) rules = LocalRules::LoadFile(options.local_rules_file);
  return std::make_unique<SinkCore>(options,
                                    std::make_unique<GrpcDispatcherClient>(options.dispatcher_target),
                                    std::make_shared<ThreadTimers>(), std::move(rules));
}

}  // namespace smtpbridge::sink
