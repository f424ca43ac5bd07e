#include "workers/worker_stream.h"

#include <grpc/support/time.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <utility>

#include "smtpbridge/common/batch_queue.h"
#include "smtpbridge/cq/write_cork.h"
#include "workers/batch_wire.h"

namespace smtpbridge::dispatcher {
namespace {

constexpr char kMethod[] = "/smtpbridge.v1.PolicySink/OnEvents";
// A call cancelled this close to its deadline was cancelled by the fan-out's timer: expired.
constexpr auto kDeadlineSlack = std::chrono::milliseconds(1);

using SteadyClock = std::chrono::steady_clock;

// A steady-clock time point as a gRPC deadline (Alarm takes gpr or system_clock times).
gpr_timespec ToGpr(SteadyClock::time_point when) {
  const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(when - SteadyClock::now());
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(std::max<int64_t>(0, left.count()), GPR_TIMESPAN));
}

}  // namespace

// Lock order: CqPool::Use first, then mu_ (Use is a shared lock that the queues' Shutdown takes
// exclusively). No lock is held while a call's `done` runs.

class WorkerStream::Op final : public cq::CqTag {
 public:
  enum Kind { kStart, kRead, kWrite, kFinish, kTimer };
  Op(WorkerStream* owner, Stream* stream, Kind kind)
      : owner_(owner), stream_(stream), kind_(kind) {}
  void Proceed(bool ok) override;

 private:
  WorkerStream* owner_;
  Stream* stream_;
  Kind kind_;
};

struct WorkerStream::Stream {
  explicit Stream(WorkerStream* o)
      : owner(o->shared_from_this()),
        start(o, this, Op::kStart),
        read(o, this, Op::kRead),
        write(o, this, Op::kWrite),
        finish(o, this, Op::kFinish) {}

  std::shared_ptr<WorkerStream> owner;  // alive while any tag of ours is on a queue
  grpc::ClientContext context;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> rw;
  grpc::ByteBuffer incoming;
  grpc::ByteBuffer outgoing;  // the write in flight
  common::BatchQueue<grpc::Slice> queued{
      {kMaxBatch, kMaxBatchBytes}};  // request entries waiting for it
  std::vector<uint64_t> cancels;     // ids for the next message's cancel list
  grpc::Status status;
  Op start, read, write, finish;
  SteadyClock::time_point retire_at;  // takes new calls until then
  bool open = false;                  // started and reading
  bool retiring = false;              // takes no new request: half-closed once its queue is written
  bool writes_done_sent = false;
  bool writing = false;
  bool finishing = false;
  bool silent = false;  // a call expired before any answer: the worker may not run OnEvents
  int tags = 0;         // on the queue; deleted when the last comes back
};

void WorkerStream::Op::Proceed(bool ok) {
  switch (kind_) {
    case kStart:
      owner_->OnStarted(*stream_, ok);
      break;
    case kRead:
      owner_->OnRead(*stream_, ok);
      break;
    case kWrite:
      owner_->OnWritten(*stream_, ok);
      break;
    case kFinish:
      owner_->OnFinished(*stream_);
      break;
    case kTimer:
      owner_->OnTimer(ok);
      return;
  }
  owner_->Release(*stream_);  // may delete the stream, and with it the owner
}

WorkerStream::WorkerStream(std::string target, std::string endpoint,
                           std::shared_ptr<grpc::Channel> channel, cq::CqPool* cqs,
                           StreamListener* listener, SteadyClock::duration lifetime)
    : target_(std::move(target)),
      endpoint_(std::move(endpoint)),
      channel_(std::move(channel)),
      stub_(channel_),
      cqs_(cqs),
      listener_(listener),
      lifetime_(lifetime),
      timer_op_(std::make_unique<Op>(this, nullptr, Op::kTimer)) {}

WorkerStream::~WorkerStream() = default;

bool WorkerStream::use_stream() const {
  std::lock_guard lock(mu_);
  return !closed_ && SteadyClock::now() >= unary_until_;
}

uint64_t WorkerStream::Send(const v1::SinkRequest& request, const std::string& traceparent,
                            SteadyClock::time_point deadline, Done done) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_ || SteadyClock::now() < unary_until_) return 0;
    id = ++next_id_;
  }
  grpc::Slice entry = EncodeRequestEntry(request, id, traceparent);  // outside the lock
  cq::CqPool::Use use(cqs_);
  if (!use) return 0;
  std::lock_guard lock(mu_);
  // Fell back to unary meanwhile: the caller sends this one as unary too.
  if (closed_ || SteadyClock::now() < unary_until_) return 0;
  if (!cq_) cq_ = cqs_->Pick();
  if (current_ && SteadyClock::now() >= current_->retire_at) RetireLocked(*current_);
  Stream* s = current_ ? current_ : StartStreamLocked();
  pending_.emplace(id, Pending{std::move(done), s, deadline});
  deadlines_.emplace(deadline, id);
  const size_t bytes = entry.size();
  s->queued.Push(std::move(entry), bytes);
  WriteNextLocked(*s);
  ArmTimerLocked();
  return id;
}

void WorkerStream::Cancel(uint64_t id) {
  Pending p;
  {
    std::lock_guard lock(mu_);
    if (!TakeLocked(id, &p)) return;  // answered, failed or expired already
    // Cancelled at its deadline (the fan-out's timer): it expired.
    if (SteadyClock::now() + kDeadlineSlack >= p.deadline) ExpiredLocked(*p.stream);
    // The worker hears of it with the next request on that stream (never a message of its own:
    // a worker may ignore `cancel`, and its own time_left bounds the work anyway).
    if (!p.stream->finishing) p.stream->cancels.push_back(id);
  }
  p.done(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"), v1::Verdict(), false);
}

void WorkerStream::ExpiredLocked(Stream& s) {
  if (answered_ || s.finishing || s.silent || closed_) return;
  // Nothing ever came back from this endpoint on a stream: the worker may accept OnEvents
  // without running it. (Once one answer came, a timeout is only a timeout.)
  // End the stream; what else it owes goes as unary (OnFinished).
  s.silent = true;
  if (current_ == &s) current_ = nullptr;
  unary_until_ = SteadyClock::now() + kSilentUnaryFor;  // the next calls go unary at once
  s.context.TryCancel();
}

bool WorkerStream::TakeLocked(uint64_t id, Pending* out) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  auto [lo, hi] = deadlines_.equal_range(it->second.deadline);
  for (auto d = lo; d != hi; ++d) {
    if (d->second == id) {
      deadlines_.erase(d);
      break;
    }
  }
  *out = std::move(it->second);
  pending_.erase(it);
  return true;
}

WorkerStream::Stream* WorkerStream::StartStreamLocked() {
  auto* s = new Stream(this);
  s->retire_at = SteadyClock::now() + lifetime_;
  live_.insert(s);
  current_ = s;
  s->rw = stub_.PrepareCall(&s->context, kMethod, cq_);
  s->tags++;
  s->rw->StartCall(&s->start);
  return s;
}

void WorkerStream::RetireLocked(Stream& s) {
  s.retiring = true;
  if (current_ == &s) current_ = nullptr;
  WriteNextLocked(s);
}

void WorkerStream::WriteNextLocked(Stream& s) {
  if (!s.open || s.writing || s.finishing) return;
  if (s.queued.empty()) {
    // Half-close: the worker sends what it still owes, then ends the stream.
    if (s.retiring && !s.writes_done_sent) {
      s.writes_done_sent = true;
      s.writing = true;
      s.tags++;
      s.rw->WritesDone(&s.write);
    }
    return;
  }
  if (cq::WriteCork::Active()) {
    // More requests may follow from the message this thread is handling (cq/write_cork.h):
    // written when it is done, as if a write were in flight until then (which keeps the stream).
    s.writing = true;
    s.tags++;
    cq::WriteCork::Defer([this, &s] {
      OnWritten(s, true);
      Release(s);  // may delete the stream, and with it this
    });
    return;
  }
  // Everything that waited, up to kMaxBatch requests and kMaxBatchBytes (at least one).
  std::vector<grpc::Slice> batch;
  batch.reserve(std::min(s.queued.size(), kMaxBatch));
  const size_t n = s.queued.Take([&](grpc::Slice&& entry) { batch.push_back(std::move(entry)); });
  s.outgoing = EncodeBatch(&batch, s.cancels);
  s.cancels.clear();
  s.writing = true;
  s.tags++;
  s.rw->Write(s.outgoing, &s.write);
  if (listener_) listener_->OnBatch(n);
}

void WorkerStream::OnStarted(Stream& s, bool ok) {
  cq::CqPool::Use use(cqs_);
  std::lock_guard lock(mu_);
  if (!ok || !use) {  // never started (no connection): Finish says why
    FinishLocked(s);
    return;
  }
  s.open = true;
  s.tags++;
  s.rw->Read(&s.incoming, &s.read);
  WriteNextLocked(s);
}

void WorkerStream::OnRead(Stream& s, bool ok) {
  struct Answer {
    Done done;
    grpc::Status status;
    v1::Verdict verdict;
  };
  std::vector<Answer> answers;
  {
    v1::SinkAnswers message;
    const bool parsed = ok && ParseAnswers(s.incoming, &message);
    cq::CqPool::Use use(cqs_);
    std::lock_guard lock(mu_);
    if (!ok || !use || !parsed) {
      // The stream ended (or sent something we cannot match): what it owes fails with it.
      if (ok) s.context.TryCancel();
      FinishLocked(s);
      return;
    }
    const auto now = SteadyClock::now();
    answered_ = true;
    answers.reserve(message.answers_size());
    for (auto& a : *message.mutable_answers()) {
      Pending p;
      if (!TakeLocked(a.stream_id(), &p)) continue;  // cancelled or expired: dropped
      if (now >= p.deadline) {
        answers.push_back(
            {std::move(p.done),
             grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "answered after the deadline"),
             {}});
      } else if (a.error_code() != 0) {
        // A code outside google.rpc.Code counts as UNKNOWN (as gRPC maps unknown status codes).
        const int code = a.error_code();
        const auto status_code = code > 0 && code <= grpc::StatusCode::UNAUTHENTICATED
                                     ? static_cast<grpc::StatusCode>(code)
                                     : grpc::StatusCode::UNKNOWN;
        answers.push_back({std::move(p.done), grpc::Status(status_code, a.error_message()), {}});
      } else {
        answers.push_back({std::move(p.done), grpc::Status::OK, std::move(*a.mutable_verdict())});
      }
    }
    s.tags++;
    s.rw->Read(&s.incoming, &s.read);
  }
  // The answers' replies to the sinks go as one message per sink stream (cq/write_cork.h).
  cq::WriteCork cork;
  for (auto& a : answers) a.done(a.status, std::move(a.verdict), false);
}

void WorkerStream::OnWritten(Stream& s, bool ok) {
  cq::CqPool::Use use(cqs_);
  std::lock_guard lock(mu_);
  s.writing = false;
  if (ok && use) WriteNextLocked(s);  // else the stream is broken: the failed read finishes it
}

void WorkerStream::FinishLocked(Stream& s) {
  if (s.finishing) return;
  s.finishing = true;
  s.open = false;
  if (current_ == &s) current_ = nullptr;  // the next call starts a new stream
  s.tags++;
  s.rw->Finish(&s.status, &s.finish);
}

void WorkerStream::OnFinished(Stream& s) {
  std::vector<Done> owed;
  bool unsupported = false;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.stream == &s) {
        owed.push_back(std::move(it->second.done));
        Pending dropped;
        const uint64_t id = it->first;
        ++it;
        TakeLocked(id, &dropped);
      } else {
        ++it;
      }
    }
    // A worker without OnEvents: these were never evaluated; they, and the next calls for a
    // while, go as unary OnEvent. (A silent one may have evaluated some: a second copy, as a
    // hedge would send.)
    unsupported =
        (s.status.error_code() == grpc::StatusCode::UNIMPLEMENTED || s.silent) && !closed_;
    if (unsupported) unary_until_ = SteadyClock::now() + (s.silent ? kSilentUnaryFor : kUnaryFor);
  }
  if (unsupported && listener_) {
    listener_->OnUnaryFallback(target_, endpoint_,
                               s.silent ? "no answer on a new OnEvents stream within a call's time"
                                        : "OnEvents answered UNIMPLEMENTED");
  }
  // Otherwise the stream broke (or the worker ended it) before answering them: UNAVAILABLE, which
  // the caller retries on another replica, as for a unary call that found its worker gone.
  const grpc::Status failed(grpc::StatusCode::UNAVAILABLE,
                            "worker stream ended before answering" +
                                (s.status.ok() ? std::string() : ": " + s.status.error_message()));
  for (auto& done : owed) done(failed, v1::Verdict(), unsupported);
}

void WorkerStream::Release(Stream& s) {
  {
    std::lock_guard lock(mu_);
    if (--s.tags > 0) return;
    if (current_ == &s) current_ = nullptr;
    live_.erase(&s);
    idle_.notify_all();
  }
  delete &s;  // drops its reference to us: the last one may delete this WorkerStream
}

void WorkerStream::ArmTimerLocked() {
  if (closed_ || deadlines_.empty() || !cq_) return;
  const auto earliest = deadlines_.begin()->first;
  if (timer_armed_) {
    // Its tag comes back (ok = false) and the timer is set again for the earliest deadline.
    if (earliest < timer_at_) timer_.Cancel();
    return;
  }
  timer_armed_ = true;
  timer_at_ = earliest;
  timer_self_ = shared_from_this();
  timer_.Set(cq_, ToGpr(earliest), timer_op_.get());
}

void WorkerStream::OnTimer(bool) {
  std::vector<Done> expired;
  std::shared_ptr<WorkerStream> self;
  {
    cq::CqPool::Use use(cqs_);
    std::lock_guard lock(mu_);
    timer_armed_ = false;
    const auto now = SteadyClock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      const uint64_t id = deadlines_.begin()->second;
      Pending p;
      TakeLocked(id, &p);
      if (!p.stream->finishing) p.stream->cancels.push_back(id);  // the worker may stop on it
      ExpiredLocked(*p.stream);
      expired.push_back(std::move(p.done));
    }
    if (use) ArmTimerLocked();
    if (!timer_armed_) {
      self = std::move(timer_self_);
      idle_.notify_all();
    }
  }
  for (auto& done : expired) {
    done(
        grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no answer on the worker stream in time"),
        v1::Verdict(), false);
  }
}

void WorkerStream::Retire() {
  cq::CqPool::Use use(cqs_);
  std::lock_guard lock(mu_);
  if (current_ && use) RetireLocked(*current_);
}

void WorkerStream::Close() {
  std::unique_lock lock(mu_);
  closed_ = true;
  current_ = nullptr;
  for (Stream* s : live_) s->context.TryCancel();
  if (timer_armed_) timer_.Cancel();
  idle_.wait(lock, [this] { return live_.empty() && !timer_armed_; });
}

}  // namespace smtpbridge::dispatcher
