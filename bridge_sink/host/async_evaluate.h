// Sink::Evaluate as an Asio asynchronous operation: the completion runs on the caller's
// executor (the connection's strand), whichever thread the sink answers on.
#pragma once

#include <chrono>
#include <memory>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>

#include "smtpbridge/sink/sink.h"

namespace smtpbridge::host {

template <typename CompletionToken>
auto AsyncEvaluate(sink::Sink& sink, v1::Event event, std::chrono::microseconds budget,
                   CompletionToken&& token) {
  return boost::asio::async_initiate<CompletionToken, void(sink::Evaluation)>(
      [&sink, budget](auto handler, v1::Event ev) {
        // EvaluationCallback is a std::function (copyable); the handler is move-only.
        using Handler = decltype(handler);
        auto shared = std::make_shared<Handler>(std::move(handler));
        sink.Evaluate(std::move(ev), budget, [shared](sink::Evaluation result) {
          auto executor = boost::asio::get_associated_executor(*shared);
          boost::asio::post(executor, [shared, result = std::move(result)]() mutable {
            (*shared)(std::move(result));
          });
        });
      },
      token, std::move(event));
}

}  // namespace smtpbridge::host
