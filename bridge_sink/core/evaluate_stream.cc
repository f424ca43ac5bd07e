#include "core/evaluate_stream.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/slice.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "smtpbridge/common/batch_queue.h"

namespace smtpbridge::sink {
namespace {

constexpr char kMethod[] = "/smtpbridge.v1.Dispatcher/EvaluateStream";
// How often evaluations past their deadline are failed (only answers the sink keeps after its
// budget, or a dispatcher that never answers, get that old).
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
// A stream sticks to the dispatcher replica it was opened on; replacing it this often lets the
// channel's round_robin (smtpbridge/grpc/client_channel.h) spread one sink's events over every
// serving replica, as unary calls do, and moves it off a draining one within a second.
constexpr auto kStreamLifetime = std::chrono::seconds(1);
// At most this much per EvaluateRequests message. Past a few dozen events the per-message cost
// is already shared thin, and a bounded message keeps a burst's first events from waiting for
// the dispatcher to parse thousands, and stays far below gRPC's 4 MiB default receive limit
// (one event bigger than the byte cap still goes, alone).
constexpr common::BatchLimits kBatchLimits{.items = 64, .bytes = 1024 * 1024};

// One request as it goes on the wire: serialized once, straight into a gRPC slice, already framed
// as an entry of EvaluateRequests.requests (tag, length), with its stream_id appended (a field
// appended to a serialized message reads as if it had been set), so the caller's request is
// neither copied nor touched. A batch is these slices back to back: no copy either.
grpc::Slice Serialize(const v1::EvaluateRequest& request, uint64_t id) {
  using google::protobuf::io::CodedOutputStream;
  uint8_t tail[1 + 10];
  tail[0] = (v1::EvaluateRequest::kStreamIdFieldNumber << 3) | 0;  // varint
  const uint8_t* tail_end = CodedOutputStream::WriteVarint64ToArray(id, tail + 1);
  const size_t tail_size = static_cast<size_t>(tail_end - tail);
  const size_t body_size = request.ByteSizeLong();
  uint8_t head[1 + 10];
  head[0] = (v1::EvaluateRequests::kRequestsFieldNumber << 3) | 2;  // length-delimited
  const uint8_t* head_end =
      CodedOutputStream::WriteVarint64ToArray(body_size + tail_size, head + 1);
  const size_t head_size = static_cast<size_t>(head_end - head);
  grpc_slice raw = grpc_slice_malloc(head_size + body_size + tail_size);
  uint8_t* out = GRPC_SLICE_START_PTR(raw);
  std::memcpy(out, head, head_size);
  request.SerializeWithCachedSizesToArray(out + head_size);
  std::memcpy(out + head_size + body_size, tail, tail_size);
  return grpc::Slice(raw, grpc::Slice::STEAL_REF);
}

bool Parse(grpc::ByteBuffer* buffer, v1::EvaluateResponses* responses) {
  grpc::ProtoBufferReader reader(buffer);
  return reader.status().ok() && responses->ParseFromZeroCopyStream(&reader);
}

}  // namespace

struct EvaluateStream::Pending {
  const v1::EvaluateRequest* request;  // valid until `done` runs (DispatcherClient contract)
  Clock::time_point deadline;
  DispatcherClient::EvaluateDone done;
  Stream* stream;
  std::weak_ptr<StreamCall> call;
};

// What Evaluate() returns. Cancel() answers CANCELLED at once (on the queue's thread), or
// cancels the unary call the evaluation was moved to.
class EvaluateStream::StreamCall final : public DispatcherClient::Call {
 public:
  StreamCall(EvaluateStream* owner, uint64_t id) : owner_(owner), id_(id) {
    std::lock_guard lock(owner_->calls_mu_);
    ++owner_->live_calls_;
  }
  ~StreamCall() override {
    std::lock_guard lock(owner_->calls_mu_);
    if (--owner_->live_calls_ == 0) owner_->calls_idle_.notify_all();
  }
  void Cancel() override {
    std::shared_ptr<DispatcherClient::Call> unary;
    {
      std::lock_guard lock(owner_->mu_);
      unary = unary_;
    }
    if (unary) {
      unary->Cancel();
    } else {
      owner_->Cancel(id_);
    }
  }

  EvaluateStream* const owner_;
  const uint64_t id_;
  std::shared_ptr<DispatcherClient::Call> unary_;  // guarded by owner_->mu_
};

class EvaluateStream::StreamTag final : public Tag {
 public:
  enum Kind { kStart, kRead, kWrite, kWritesDone, kFinish };
  StreamTag(EvaluateStream* owner, Stream* stream, Kind kind)
      : owner_(owner), stream_(stream), kind_(kind) {}
  void Complete(bool ok) override {
    switch (kind_) {
      case kStart:
        owner_->OnStarted(*stream_, ok);
        break;
      case kRead:
        owner_->OnRead(*stream_, ok);
        break;
      case kWrite:
      case kWritesDone:
        owner_->OnWritten(*stream_, ok);
        break;
      case kFinish:
        owner_->OnFinished(*stream_);
        break;
    }
    owner_->Release(*stream_);  // may delete the stream, and this tag with it
  }

 private:
  EvaluateStream* owner_;
  Stream* stream_;
  Kind kind_;
};

struct EvaluateStream::Stream {
  explicit Stream(EvaluateStream* owner)
      : retire_at(std::chrono::steady_clock::now() + owner->lifetime_),
        start(owner, this, StreamTag::kStart),
        read(owner, this, StreamTag::kRead),
        write(owner, this, StreamTag::kWrite),
        writes_done(owner, this, StreamTag::kWritesDone),
        finish(owner, this, StreamTag::kFinish) {}

  grpc::ClientContext context;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> rw;
  grpc::ByteBuffer incoming;
  grpc::ByteBuffer outgoing;                             // the write in flight
  common::BatchQueue<grpc::Slice> queued{kBatchLimits};  // waiting for it: the next message
  grpc::Status status;
  std::chrono::steady_clock::time_point retire_at;
  StreamTag start, read, write, writes_done, finish;
  bool open = false;      // started and reading
  bool retiring = false;  // no new requests: half-close once the queued ones are written
  bool writes_done_sent = false;
  bool writing = false;
  bool finishing = false;
  int tags = 0;  // on the queue; the stream is deleted when the last comes back
};

class EvaluateStream::SweepTag final : public Tag {
 public:
  explicit SweepTag(EvaluateStream* owner) : owner_(owner) {}
  void Complete(bool ok) override { owner_->Sweep(ok); }
  grpc::Alarm alarm;

 private:
  EvaluateStream* owner_;
};

// Runs a cancelled evaluation's callback on the queue's thread: never inside Cancel(), whose
// caller may hold its own locks.
class EvaluateStream::CancelledTag final : public Tag {
 public:
  CancelledTag(EvaluateStream* owner, DispatcherClient::EvaluateDone done)
      : owner_(owner), done_(std::move(done)) {}
  void Complete(bool) override {
    done_(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the sink"),
          v1::EvaluateResponse());
    EvaluateStream* owner = owner_;
    delete this;
    std::lock_guard lock(owner->mu_);
    --owner->posted_;
    owner->idle_.notify_all();
  }
  grpc::Alarm alarm;

 private:
  EvaluateStream* owner_;
  DispatcherClient::EvaluateDone done_;
};

EvaluateStream::EvaluateStream(std::shared_ptr<grpc::Channel> channel, grpc::CompletionQueue* queue,
                               Unary unary)
    : channel_(std::move(channel)),
      queue_(queue),
      stub_(channel_),
      unary_(std::move(unary)),
      lifetime_(kStreamLifetime),
      sweep_(std::make_unique<SweepTag>(this)) {}

EvaluateStream::~EvaluateStream() = default;

bool EvaluateStream::unsupported() const {
  std::lock_guard lock(mu_);
  return unsupported_;
}

EvaluateStream::Stats EvaluateStream::stats() const {
  std::lock_guard lock(mu_);
  Stats stats = stats_;
  stats.writing = current_ && current_->writing;
  return stats;
}

void EvaluateStream::Warm() {
  std::lock_guard lock(mu_);
  if (!current_ && !unsupported_ && !closing_) StartStreamLocked();
}

std::shared_ptr<DispatcherClient::Call> EvaluateStream::Evaluate(
    const v1::EvaluateRequest& request, Clock::time_point deadline,
    DispatcherClient::EvaluateDone done) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    if (!unsupported_ && !closing_) id = ++next_id_;
  }
  if (id != 0) {
    grpc::Slice bytes = Serialize(request, id);  // outside the lock: the expensive part
    auto call = std::make_shared<StreamCall>(this, id);
    std::lock_guard lock(mu_);
    if (!unsupported_ && !closing_) {
      if (current_ && std::chrono::steady_clock::now() >= current_->retire_at)
        RetireLocked(*current_);
      if (!current_) StartStreamLocked();
      Stream& s = *current_;
      pending_.emplace(id, Pending{&request, deadline, std::move(done), &s, call});
      const size_t size = bytes.size();
      s.queued.Push(std::move(bytes), size);
      WriteNextLocked(s);  // at once when no write is in flight: never waits to fill a batch
      ArmSweepLocked();
      return call;
    }
  }
  // An older dispatcher (or, while shutting down, whatever still asks: it fails normally).
  return unary_(request, deadline, std::move(done));
}

void EvaluateStream::StartStreamLocked() {
  auto* s = new Stream(this);
  ++streams_;
  current_ = s;
  s->rw = stub_.PrepareCall(&s->context, kMethod, queue_);
  s->tags++;
  s->rw->StartCall(&s->start);
}

void EvaluateStream::RetireLocked(Stream& s) {
  s.retiring = true;
  if (current_ == &s) current_ = nullptr;
  WriteNextLocked(s);
}

void EvaluateStream::WriteNextLocked(Stream& s) {
  if (!s.open || s.writing || s.finishing) return;
  if (s.queued.empty()) {
    // Half-close: the dispatcher sends what it still owes, then ends the stream.
    if (s.retiring && !s.writes_done_sent) {
      s.writes_done_sent = true;
      s.writing = true;
      s.tags++;
      s.rw->WritesDone(&s.writes_done);
    }
    return;
  }
  // Everything that queued behind the previous write (up to the cap) is one message.
  std::vector<grpc::Slice> slices;
  slices.reserve(std::min(s.queued.size(), kBatchLimits.items));
  const size_t events =
      s.queued.Take([&](grpc::Slice&& slice) { slices.push_back(std::move(slice)); });
  s.outgoing = grpc::ByteBuffer(slices.data(), slices.size());
  ++stats_.messages_sent;
  stats_.events_sent += events;
  if (sent_hist_) sent_hist_->Observe(static_cast<double>(events));
  s.writing = true;
  s.tags++;
  s.rw->Write(s.outgoing, &s.write);
}

void EvaluateStream::OnStarted(Stream& s, bool ok) {
  std::lock_guard lock(mu_);
  if (!ok) {  // never started (no connection): Finish says why
    FinishLocked(s);
    return;
  }
  s.open = true;
  s.tags++;
  s.rw->Read(&s.incoming, &s.read);
  WriteNextLocked(s);
}

void EvaluateStream::OnRead(Stream& s, bool ok) {
  if (!ok) {  // the stream ended
    std::lock_guard lock(mu_);
    FinishLocked(s);
    return;
  }
  v1::EvaluateResponses batch;
  const bool parsed = Parse(&s.incoming, &batch);
  // Each answer's callback, in the order they came (outside the lock: they may call back in).
  std::vector<std::pair<DispatcherClient::EvaluateDone, v1::EvaluateResponse*>> answered;
  {
    std::lock_guard lock(mu_);
    if (!parsed) {
      // Not answers we can match: end this stream; what it owes fails with it.
      s.context.TryCancel();
      FinishLocked(s);
      return;
    }
    ++stats_.messages_received;
    stats_.answers_received += static_cast<uint64_t>(batch.responses_size());
    if (received_hist_) received_hist_->Observe(static_cast<double>(batch.responses_size()));
    answered.reserve(static_cast<size_t>(batch.responses_size()));
    for (auto& response : *batch.mutable_responses()) {
      auto it = pending_.find(response.stream_id());
      if (it != pending_.end() && it->second.stream == &s) {  // else cancelled or swept already
        answered.emplace_back(std::move(it->second.done), &response);
        pending_.erase(it);
      }
    }
    s.tags++;
    s.rw->Read(&s.incoming, &s.read);
  }
  for (auto& [done, response] : answered) done(grpc::Status::OK, std::move(*response));
}

void EvaluateStream::OnWritten(Stream& s, bool ok) {
  std::lock_guard lock(mu_);
  s.writing = false;
  if (ok) WriteNextLocked(s);  // else the stream is broken: the failed read finishes it
}

void EvaluateStream::FinishLocked(Stream& s) {
  if (s.finishing) return;
  s.finishing = true;
  s.open = false;
  if (current_ == &s) current_ = nullptr;  // the next evaluation starts a new stream
  s.tags++;
  s.rw->Finish(&s.status, &s.finish);
}

void EvaluateStream::OnFinished(Stream& s) {
  std::vector<Pending> owed;
  bool unary;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.stream == &s) {
        owed.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (s.status.error_code() == grpc::StatusCode::UNIMPLEMENTED) unsupported_ = true;
    // What an ended stream still owed goes out again as unary calls, which round_robin sends to a
    // replica that is up: for an older dispatcher (UNIMPLEMENTED), and when the stream ended
    // UNAVAILABLE (the dispatcher drained, restarted or died: a drained one answered all it had
    // read, so these were never evaluated; a dead one's answers are lost) or CANCELLED by the
    // server (its drain deadline passed). Not when we are closing: then we cancelled it.
    const auto code = s.status.error_code();
    unary = !closing_ && (unsupported_ || code == grpc::StatusCode::UNAVAILABLE ||
                          code == grpc::StatusCode::CANCELLED);
  }
  const grpc::Status failed = s.status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                           "dispatcher ended the evaluation stream")
                                            : s.status;
  for (auto& p : owed) {
    if (!unary) {
      p.done(failed, v1::EvaluateResponse());
      continue;
    }
    // The same evaluation as a unary call, which its handle now cancels.
    auto call = p.call.lock();
    auto moved = unary_(*p.request, p.deadline, std::move(p.done));
    if (call) {
      std::lock_guard lock(mu_);
      call->unary_ = std::move(moved);
    }
  }
}

void EvaluateStream::Release(Stream& s) {
  std::lock_guard lock(mu_);
  if (--s.tags > 0) return;
  if (current_ == &s) current_ = nullptr;
  delete &s;
  --streams_;
  idle_.notify_all();
}

void EvaluateStream::Cancel(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // answered, failed or swept already
  auto* tag = new CancelledTag(this, std::move(it->second.done));
  pending_.erase(it);
  ++posted_;
  tag->alarm.Set(queue_, Clock::now(), tag);
}

void EvaluateStream::ArmSweepLocked() {
  if (sweep_armed_ || closing_ || pending_.empty()) return;
  sweep_armed_ = true;
  sweep_->alarm.Set(queue_, Clock::now() + kSweepEvery, sweep_.get());
}

void EvaluateStream::Sweep(bool ok) {
  std::vector<DispatcherClient::EvaluateDone> expired;
  if (ok) {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& done : expired) {
    done(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                      "no answer on the evaluation stream in time"),
         v1::EvaluateResponse());
  }
  std::lock_guard lock(mu_);
  sweep_armed_ = false;
  ArmSweepLocked();
  idle_.notify_all();
}

void EvaluateStream::Shutdown() {
  {
    std::unique_lock calls(calls_mu_);
    calls_idle_.wait(calls, [this] { return live_calls_ == 0; });
  }
  std::unique_lock lock(mu_);
  closing_ = true;
  if (sweep_armed_) sweep_->alarm.Cancel();
  if (current_) current_->context.TryCancel();
  idle_.wait(lock, [this] { return streams_ == 0 && !sweep_armed_ && posted_ == 0; });
}

}  // namespace smtpbridge::sink
