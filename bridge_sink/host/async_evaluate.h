// Sink::Evaluate as an Asio operation, the one bridge between the hosts' connections and the sink.
// The completion runs on the caller's executor (the connection's strand or I/O thread),
// whichever thread the sink answers on.
//
// Two ways to wait:
// - AsyncEvaluate (milter, policy): for the answer the sink promises within the budget (its own
//   timer answers from the fallback).
// - AwaitEvaluation (proxy): the same, but gives up after budget + grace should the sink ever
//   break that promise, so the SMTP dialogue never stalls because of policy; an answer given
//   inline inside Evaluate() is taken without a post.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

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

// Returns nullopt when the sink did not answer within budget + grace.
inline boost::asio::awaitable<std::optional<sink::Evaluation>> AwaitEvaluation(
    sink::Sink& sink, v1::Event event, std::chrono::microseconds budget,
    std::chrono::milliseconds grace) {
  namespace asio = boost::asio;
  auto executor = co_await asio::this_coro::executor;
  struct State {
    explicit State(const asio::any_io_executor& ex) : executor(ex), timer(ex) {}
    asio::any_io_executor executor;
    asio::steady_timer timer;
    std::optional<sink::Evaluation> result;
    bool finished = false;
    // While Evaluate() runs on this thread, an answer given inline (fresh cache, open breaker)
    // is taken directly: no post, no timer armed and cancelled.
    const std::thread::id caller = std::this_thread::get_id();
    bool evaluating = true;  // written and read only on `caller`
  };
  auto state = std::make_shared<State>(executor);
  // The callback holds the state weakly: a sink may keep (or never call) its callbacks after the
  // session and its io_context are gone, and must not keep the session's timer alive then.
  std::weak_ptr<State> weak = state;
  sink.Evaluate(std::move(event), budget, [weak](sink::Evaluation evaluation) {
    auto state = weak.lock();
    if (!state) return;  // the proxy stopped waiting long ago
    if (std::this_thread::get_id() == state->caller && state->evaluating) {
      state->result = std::move(evaluation);
      return;
    }
    // The callback may run inline or on a sink thread: hop to the session's strand.
    asio::post(state->executor, [state, evaluation = std::move(evaluation)]() mutable {
      if (state->finished) return;
      state->result = std::move(evaluation);
      state->timer.cancel();
    });
  });
  state->evaluating = false;
  if (state->result) {
    state->finished = true;
    co_return std::move(state->result);
  }
  state->timer.expires_after(budget + grace);
  co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  state->finished = true;
  co_return std::move(state->result);
}

}  // namespace smtpbridge::host
