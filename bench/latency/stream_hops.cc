#include "stream_hops.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "smtpbridge/common/ready_file.h"
#include "smtpbridge/v1/sink.grpc.pb.h"

namespace smtpbridge::bench {
namespace {

using ServerStream = grpc::ServerAsyncReaderWriter<v1::SinkAnswers, v1::SinkRequests>;
using ClientStream = grpc::ClientAsyncReaderWriter<v1::SinkRequests, v1::SinkAnswers>;

// A completion-queue tag: which operation of which object completed.
struct Tag {
  enum Kind { kAccept, kRead, kWrite, kFinish, kStart };
  void* owner;
  Kind kind;
  bool upstream = false;  // an Upstream's; anything else goes to the server's `on_other`
};

// The server side of one OnEvents stream: answers (echo) or forwarded answers are queued in
// `pending` and written as one SinkAnswers when no write is in flight.
struct Upstream {
  grpc::ServerContext ctx;
  ServerStream rw{&ctx};
  v1::SinkRequests in;
  v1::SinkAnswers pending, writing;
  size_t owed = 0;  // requests forwarded and not answered yet (forwarder)
  bool write_busy = false, read_done = false, broken = false, finishing = false;
  Tag accept{this, Tag::kAccept, true}, read{this, Tag::kRead, true},
      write{this, Tag::kWrite, true}, finish{this, Tag::kFinish, true};

  void Flush() {
    if (write_busy || broken || pending.answers_size() == 0) return;
    writing.Swap(&pending);
    pending.Clear();
    write_busy = true;
    rw.Write(writing, &write);
  }
  // Ends the stream once nothing is owed or queued; `finish` completing deletes it.
  void MaybeFinish() {
    if (finishing || !read_done || write_busy || owed > 0 ||
        (!broken && pending.answers_size() > 0))
      return;
    finishing = true;
    rw.Finish(grpc::Status::OK, &finish);
  }
};

bool WriteReady(const std::string& listen, int port, const std::string& ready_file) {
  if (port == 0) {
    std::fprintf(stderr, "cannot listen on %s\n", listen.c_str());
    return false;
  }
  return common::WriteReadyFile(ready_file,
                                listen.substr(0, listen.rfind(':')) + ':' + std::to_string(port));
}

// Both stream servers: one completion queue, one thread. `on_requests` handles what a read
// brought; `on_other` any tag that is not an upstream's. Ends the process on SIGTERM (a
// baseline server has nothing to drain).
template <typename OnRequests, typename OnOther>
int ServeStreams(const std::string& listen, const std::string& ready_file,
                 std::unique_ptr<grpc::ServerCompletionQueue>* cq_out, OnRequests on_requests,
                 OnOther on_other,
                 std::function<void(grpc::ServerCompletionQueue*)> on_start = {}) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before gRPC starts its threads
  v1::PolicySink::AsyncService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto cq = builder.AddCompletionQueue();
  auto server = builder.BuildAndStart();
  if (!server || !WriteReady(listen, port, ready_file)) return 1;
  grpc::ServerCompletionQueue* q = cq.get();
  *cq_out = std::move(cq);
  if (on_start) on_start(q);
  auto arm = [&] {
    auto* s = new Upstream;
    service.RequestOnEvents(&s->ctx, &s->rw, q, q, &s->accept);
  };
  std::thread loop([&] {
    arm();
    void* raw = nullptr;
    bool ok = false;
    while (q->Next(&raw, &ok)) {
      auto* tag = static_cast<Tag*>(raw);
      if (!tag->upstream) {
        on_other(tag, ok);
        continue;
      }
      auto* s = static_cast<Upstream*>(tag->owner);
      switch (tag->kind) {
        case Tag::kAccept:
          if (!ok) {
            delete s;
            break;
          }
          arm();
          s->rw.Read(&s->in, &s->read);
          break;
        case Tag::kRead:
          if (!ok) {
            s->read_done = true;
            s->MaybeFinish();
            break;
          }
          on_requests(s);  // consumes s->in before the next read reuses it
          s->rw.Read(&s->in, &s->read);
          break;
        case Tag::kWrite:
          s->write_busy = false;
          if (!ok) s->broken = true;
          s->Flush();
          s->MaybeFinish();
          break;
        case Tag::kFinish:
          delete s;
          break;
        default:
          break;
      }
    }
  });
  int signo = 0;
  sigwait(&signals, &signo);
  std::_Exit(0);
}

}  // namespace

int RunStreamEcho(const std::string& listen, const std::string& ready_file) {
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  return ServeStreams(
      listen, ready_file, &cq,
      [](Upstream* s) {
        for (const auto& r : s->in.requests()) {
          auto* a = s->pending.add_answers();
          a->set_stream_id(r.stream_id());
          a->mutable_verdict()->set_action(v1::ACTION_CONTINUE);
        }
        s->Flush();
      },
      [](Tag*, bool) {});
}

namespace {

// The forwarder's one stream to the echo, on the server's completion queue (same thread).
struct Downstream {
  grpc::ClientContext ctx;
  std::unique_ptr<ClientStream> rw;
  v1::SinkRequests pending, writing;
  v1::SinkAnswers in;
  bool started = false, write_busy = false;
  Tag start{nullptr, Tag::kStart}, read{nullptr, Tag::kRead}, write{nullptr, Tag::kWrite};
  struct Route {
    Upstream* from;
    uint64_t id;
  };
  std::unordered_map<uint64_t, Route> routes;
  uint64_t next_id = 0;

  void Flush() {
    if (!started || write_busy || pending.requests_size() == 0) return;
    writing.Swap(&pending);
    pending.Clear();
    write_busy = true;
    rw->Write(writing, &write);
  }
};

}  // namespace

int RunStreamForwarder(const std::string& listen, const std::string& target,
                       const std::string& ready_file) {
  auto stub = v1::PolicySink::NewStub(
      grpc::CreateChannel("ipv4:" + target, grpc::InsecureChannelCredentials()));
  Downstream down;
  down.start.owner = &down;
  down.read.owner = &down;
  down.write.owner = &down;
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  auto fail = [](const char* what) {
    std::fprintf(stderr, "stream forwarder: the stream to the echo %s\n", what);
    std::_Exit(3);
  };
  return ServeStreams(
      listen, ready_file, &cq,
      [&down](Upstream* s) {
        for (auto& r : *s->in.mutable_requests()) {
          const uint64_t id = ++down.next_id;
          down.routes.emplace(id, Downstream::Route{s, r.stream_id()});
          auto* out = down.pending.add_requests();
          out->Swap(&r);
          out->set_stream_id(id);
          ++s->owed;
        }
        down.Flush();
      },
      [&down, &fail](Tag* tag, bool ok) {
        if (tag == &down.start) {
          if (!ok) fail("did not start");
          down.started = true;
          down.rw->Read(&down.in, &down.read);
          down.Flush();
        } else if (tag == &down.write) {
          if (!ok) fail("broke on a write");
          down.write_busy = false;
          down.Flush();
        } else if (tag == &down.read) {
          if (!ok) fail("ended");
          for (auto& a : *down.in.mutable_answers()) {
            const auto it = down.routes.find(a.stream_id());
            if (it == down.routes.end()) continue;
            Upstream* s = it->second.from;
            a.set_stream_id(it->second.id);
            down.routes.erase(it);
            s->pending.add_answers()->Swap(&a);
            --s->owed;
            s->Flush();
            s->MaybeFinish();
          }
          down.rw->Read(&down.in, &down.read);
        }
      },
      [&down, &stub](grpc::ServerCompletionQueue* q) {
        down.rw = stub->PrepareAsyncOnEvents(&down.ctx, q);
        down.rw->StartCall(&down.start);
      });
}

struct StreamClient::Impl {
  std::unique_ptr<v1::PolicySink::Stub> stub;
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  std::unique_ptr<ClientStream> rw;
  grpc::Status status;
  Tag start{this, Tag::kStart}, read{this, Tag::kRead}, write{this, Tag::kWrite},
      finish{this, Tag::kFinish};
  v1::SinkAnswers in;
  std::thread thread;

  std::mutex mu;  // guards what follows
  v1::SinkRequests pending, writing;
  std::unordered_map<uint64_t, Done> outstanding;
  uint64_t next_id = 0;
  bool started = false, write_busy = false, broken = false, finishing = false;

  void FlushLocked() {
    if (!started || write_busy || broken || pending.requests_size() == 0) return;
    writing.Swap(&pending);
    pending.Clear();
    write_busy = true;
    rw->Write(writing, &write);
  }
  // Once broken: everything outstanding is answered as not answered, and the call finished.
  void BreakLocked(std::unique_lock<std::mutex>& lock) {
    broken = true;
    auto lost = std::move(outstanding);
    outstanding.clear();
    if (!write_busy && !finishing) {
      finishing = true;
      rw->Finish(&status, &finish);
    }
    lock.unlock();
    for (auto& [id, done] : lost) done(false, "stream ended");
    lock.lock();
  }
  void Loop() {
    void* raw = nullptr;
    bool ok = false;
    while (cq.Next(&raw, &ok)) {
      auto* tag = static_cast<Tag*>(raw);
      std::unique_lock lock(mu);
      if (tag == &start) {
        if (!ok) {
          BreakLocked(lock);
          continue;
        }
        started = true;
        rw->Read(&in, &read);
        FlushLocked();
      } else if (tag == &write) {
        write_busy = false;
        if (!ok || broken) {
          BreakLocked(lock);
          continue;
        }
        FlushLocked();
      } else if (tag == &read) {
        if (!ok) {
          BreakLocked(lock);
          continue;
        }
        std::vector<Done> ready;
        ready.reserve(in.answers_size());
        for (const auto& a : in.answers()) {
          auto it = outstanding.find(a.stream_id());
          if (it == outstanding.end()) continue;
          ready.push_back(std::move(it->second));
          outstanding.erase(it);
        }
        rw->Read(&in, &read);
        lock.unlock();
        for (auto& done : ready) done(true, "");
      } else if (tag == &finish) {
        return;
      }
    }
  }
};

StreamClient::StreamClient(const std::string& target) : impl_(std::make_unique<Impl>()) {
  impl_->stub = v1::PolicySink::NewStub(
      grpc::CreateChannel("ipv4:" + target, grpc::InsecureChannelCredentials()));
  impl_->rw = impl_->stub->PrepareAsyncOnEvents(&impl_->ctx, &impl_->cq);
  impl_->rw->StartCall(&impl_->start);
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

StreamClient::~StreamClient() {
  impl_->ctx.TryCancel();  // the read fails, the loop finishes the call and returns
  impl_->thread.join();
  impl_->cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (impl_->cq.Next(&tag, &ok)) {
  }
}

void StreamClient::Evaluate(v1::Event event, Done done) {
  std::unique_lock lock(impl_->mu);
  if (impl_->broken) {
    lock.unlock();
    done(false, "stream ended");
    return;
  }
  const uint64_t id = ++impl_->next_id;
  impl_->outstanding.emplace(id, std::move(done));
  auto* r = impl_->pending.add_requests();
  *r->mutable_event() = std::move(event);
  r->set_stream_id(id);
  impl_->FlushLocked();
}

}  // namespace smtpbridge::bench
