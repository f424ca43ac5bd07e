// PolicySink.OnEvents to one worker endpoint: the calls the pool sends to that replica go over
// one long-lived bidi stream instead of one unary OnEvent each (proto/smtpbridge/v1/sink.proto).
//
// Batching: a request goes out at once when no write is in flight (the requests one received
// message makes go together when the thread is done with it: cq/write_cork.h); the ones made
// while a write is in flight wait for it and then go out together, up to kMaxBatch per message.
// Nothing ever waits to fill a batch, so one event in flight costs what a unary call's latency
// does, and many in flight pay the per-message cost once per batch. Answers are matched by
// stream_id, in any order.
//
// Each call keeps the SinkClient contract: its `done` runs exactly once, with the verdict, the
// answer's error_code as a gRPC status, DEADLINE_EXCEEDED once its deadline passed (a timer on
// the stream's queue fails it; an answer arriving later is dropped), CANCELLED when cancelled
// (its id then rides in the next message's `cancel` list), or UNAVAILABLE when the stream it
// was on broke or ended without answering it (the caller retries elsewhere, as for unary).
//
// Streams are replaced every kStreamLifetime: the old one is half-closed and its answers still
// arrive. That moves the endpoint's traffic to a new connection once the worker's max connection
// age closed the old one, as unary calls would.
//
// Negotiation: a worker without OnEvents ends the stream UNIMPLEMENTED. The calls it owed were
// never evaluated: they come back `unsupported` and the caller sends them as unary OnEvent; the
// endpoint uses unary until kUnaryFor has passed, then tries a stream again (with the same
// fallback, so no event is lost on the probe). A worker whose server accepts OnEvents but never
// runs it (a C++ AsyncService that requests OnEvent only: the stream waits forever) is caught
// when a call expires before any stream to the endpoint ever answered: that stream is ended, the
// expired call fails DEADLINE_EXCEEDED and the rest it owed go as unary, and the endpoint uses
// unary for kSilentUnaryFor.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "smtpbridge/cq/cq_pool.h"
#include "smtpbridge/v1/sink.pb.h"

namespace smtpbridge::dispatcher {

// Most SinkRequests per OnEvents message (a worker reads a batch at once: this bounds the
// message size and how much one read hands a worker).
inline constexpr size_t kMaxBatch = 64;
// How long a stream lives before it is replaced (as the sink's EvaluateStream).
inline constexpr auto kStreamLifetime = std::chrono::seconds(1);
// How long an endpoint that answered OnEvents UNIMPLEMENTED uses unary before trying again.
inline constexpr auto kUnaryFor = std::chrono::seconds(60);
// The same for an endpoint whose stream stayed silent (see above): longer, because each new try
// costs the event that finds the stream silent.
inline constexpr auto kSilentUnaryFor = std::chrono::minutes(10);

// Largest SinkRequests message put together from several requests (a worker's receive limit
// is 4 MiB in some gRPC stacks); a request bigger than this goes alone.
inline constexpr size_t kMaxBatchBytes = 1024 * 1024;

// What the streams report (metrics); from any thread, possibly under a stream's lock: it must
// not call back into the stream.
class StreamListener {
 public:
  virtual ~StreamListener() = default;
  // One SinkRequests message written with `requests` requests.
  virtual void OnBatch(size_t requests) = 0;
  // The endpoint does not serve OnEvents (`why`: it answered UNIMPLEMENTED, or a new stream
  // answered nothing in a call's time): it uses unary for a while.
  virtual void OnUnaryFallback(const std::string& target, const std::string& endpoint,
                               const char* why) = 0;
};

class WorkerStream : public std::enable_shared_from_this<WorkerStream> {
 public:
  // `unsupported`: the stream ended UNIMPLEMENTED before answering; send the call as unary.
  using Done =
      std::function<void(const grpc::Status& status, v1::Verdict verdict, bool unsupported)>;

  // Streams run on a queue of `cqs`; `listener` may be null.
  // `target` (the pool) and `endpoint` name it in metrics and logs.
  // `lifetime`: how long a stream takes new calls before it is replaced (tests shorten it).
  WorkerStream(std::string target, std::string endpoint, std::shared_ptr<grpc::Channel> channel,
               cq::CqPool* cqs, StreamListener* listener,
               std::chrono::steady_clock::duration lifetime = kStreamLifetime);
  ~WorkerStream();
  WorkerStream(const WorkerStream&) = delete;
  WorkerStream& operator=(const WorkerStream&) = delete;

  // Whether calls to this endpoint go over the stream now (false: unary, for a while).
  bool use_stream() const;

  // Sends `request` on the stream; `done` runs later (never inline). Returns its id, or 0 when
  // it was not taken (the endpoint uses unary now, or the queues are closed): then `done` never
  // runs.
  uint64_t Send(const v1::SinkRequest& request, const std::string& traceparent,
                std::chrono::steady_clock::time_point deadline, Done done);
  // Gives up on call `id`: its `done` runs now with CANCELLED (nothing if already completed).
  void Cancel(uint64_t id);

  // Half-closes the streams: what they owe still arrives (the endpoint was dropped).
  void Retire();
  // Cancels every stream and the timer: whatever is owed fails UNAVAILABLE, and no call is taken
  // afterwards. Then waits until every tag it put on a queue came back: the dispatcher is
  // shutting down, and its queues may close only after (from a thread that is not a queue's).
  void Close();

 private:
  struct Stream;
  class Op;
  struct Pending {
    Done done;
    Stream* stream = nullptr;
    std::chrono::steady_clock::time_point deadline{};
  };

  Stream* StartStreamLocked();
  void RetireLocked(Stream& s);
  void WriteNextLocked(Stream& s);
  void FinishLocked(Stream& s);
  void OnStarted(Stream& s, bool ok);
  void OnRead(Stream& s, bool ok);
  void OnWritten(Stream& s, bool ok);
  void OnFinished(Stream& s);
  // Drops one tag's reference; deletes the stream after its last.
  void Release(Stream& s);
  void ArmTimerLocked();
  void OnTimer(bool ok);
  // A call on `s` expired: if no stream to the endpoint ever answered, `s` is ended as silent.
  void ExpiredLocked(Stream& s);
  // Removes `id` from pending_ (and its deadline); false when it was not there.
  bool TakeLocked(uint64_t id, Pending* out);

  const std::string target_;
  const std::string endpoint_;
  const std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  cq::CqPool* const cqs_;
  StreamListener* const listener_;
  const std::chrono::steady_clock::duration lifetime_;

  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::set<Stream*> live_;               // every stream whose tags are not all back
  grpc::CompletionQueue* cq_ = nullptr;  // chosen once: the streams and the timer run there
  Stream* current_ = nullptr;
  std::unordered_map<uint64_t, Pending> pending_;
  std::multimap<std::chrono::steady_clock::time_point, uint64_t> deadlines_;
  uint64_t next_id_ = 0;
  bool answered_ = false;  // some stream to this endpoint delivered an answer
  std::chrono::steady_clock::time_point unary_until_{};
  bool closed_ = false;
  grpc::Alarm timer_;
  std::unique_ptr<Op> timer_op_;
  bool timer_armed_ = false;
  std::chrono::steady_clock::time_point timer_at_{};
  std::shared_ptr<WorkerStream> timer_self_;  // keeps us alive while the timer is armed
};

}  // namespace smtpbridge::dispatcher
