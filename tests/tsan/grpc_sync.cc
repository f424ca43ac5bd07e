// ThreadSanitizer build only (linked into every target by the top-level CMakeLists.txt when
// CMAKE_CXX_FLAGS has -fsanitize=thread): tells TSan about the happens-before edge a gRPC
// completion queue provides.
//
// Debian's libgrpc is not built with TSan and synchronizes with absl::Mutex and its own atomics,
// which TSan cannot see. So memory that one thread prepares before starting an operation (a
// stream's tag, its buffers, the objects a tag points to) and that the thread taking the tag
// off the queue then reads is reported as a race, in our code, with no gRPC frame to suppress
// it by. gRPC guarantees that edge; this file restates it: every call that puts work on a queue
// (a batch of call operations, a server request, an Alarm) releases one sync object, and every
// return from Next/Pluck acquires it. It is coarser than gRPC's real per-tag edge (a completion
// is ordered after every operation started before it on any queue), so a race between two
// threads that both only meet through gRPC can be missed; races around our own mutexes and
// atomics are still seen.
//
// The wrappers interpose on libgrpc/libgrpc++ (this shared library comes before them in the
// lookup order) and forward to the real functions found with dlsym(RTLD_NEXT).
#include <dlfcn.h>
#include <grpc/grpc.h>
#include <grpcpp/alarm.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

char g_queue_edge;

template <typename Fn>
Fn Next(const char* name) {
  void* fn = dlsym(RTLD_NEXT, name);
  if (!fn) {
    std::fprintf(stderr, "tsan grpc_sync: %s not found\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

}  // namespace

extern "C" {

grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops, void* tag,
                                      void* reserved) {
  static const auto real = Next<decltype(&grpc_call_start_batch)>("grpc_call_start_batch");
  __tsan_release(&g_queue_edge);
  return real(call, ops, nops, tag, reserved);
}

grpc_call_error grpc_server_request_call(grpc_server* server, grpc_call** call,
                                         grpc_call_details* details,
                                         grpc_metadata_array* request_metadata,
                                         grpc_completion_queue* cq_bound_to_call,
                                         grpc_completion_queue* cq_for_notification,
                                         void* tag_new) {
  static const auto real = Next<decltype(&grpc_server_request_call)>("grpc_server_request_call");
  __tsan_release(&g_queue_edge);
  return real(server, call, details, request_metadata, cq_bound_to_call, cq_for_notification,
              tag_new);
}

grpc_call_error grpc_server_request_registered_call(grpc_server* server, void* registered_method,
                                                    grpc_call** call, gpr_timespec* deadline,
                                                    grpc_metadata_array* request_metadata,
                                                    grpc_byte_buffer** optional_payload,
                                                    grpc_completion_queue* cq_bound_to_call,
                                                    grpc_completion_queue* cq_for_notification,
                                                    void* tag_new) {
  static const auto real =
      Next<decltype(&grpc_server_request_registered_call)>("grpc_server_request_registered_call");
  __tsan_release(&g_queue_edge);
  return real(server, registered_method, call, deadline, request_metadata, optional_payload,
              cq_bound_to_call, cq_for_notification, tag_new);
}

// Not about races: TSan slows a process's first connection (TCP, HTTP/2 SETTINGS, TLS) past the
// 100 ms our client channels allow it (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, smtpbridge/grpc/
// client_channel.h, is also gRPC's connect timeout), so the first calls of a fresh test process
// failed UNAVAILABLE and about 26 unit tests failed on time, not on races. In this build only, a
// channel that sets it gets at least kTsanMinConnectTimeoutMs; the reconnect backoff itself
// (initial and max) is unchanged.
constexpr int kTsanMinConnectTimeoutMs = 5000;

grpc_channel* grpc_channel_create(const char* target, grpc_channel_credentials* creds,
                                  const grpc_channel_args* args) {
  static const auto real = Next<decltype(&grpc_channel_create)>("grpc_channel_create");
  if (args == nullptr) return real(target, creds, args);
  std::vector<grpc_arg> copy(args->args, args->args + args->num_args);
  for (auto& arg : copy) {
    if (arg.type == GRPC_ARG_INTEGER &&
        std::strcmp(arg.key, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS) == 0) {
      arg.value.integer = std::max(arg.value.integer, kTsanMinConnectTimeoutMs);
    }
  }
  const grpc_channel_args patched{copy.size(), copy.data()};
  return real(target, creds, &patched);
}

grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline,
                                      void* reserved) {
  static const auto real =
      Next<decltype(&grpc_completion_queue_next)>("grpc_completion_queue_next");
  grpc_event event = real(cq, deadline, reserved);
  __tsan_acquire(&g_queue_edge);
  return event;
}

grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag, gpr_timespec deadline,
                                       void* reserved) {
  static const auto real =
      Next<decltype(&grpc_completion_queue_pluck)>("grpc_completion_queue_pluck");
  grpc_event event = real(cq, tag, deadline, reserved);
  __tsan_acquire(&g_queue_edge);
  return event;
}

}  // extern "C"

// grpc::Alarm::Set (inline) calls this; the real one is in libgrpc++.
void grpc::Alarm::SetInternal(grpc::CompletionQueue* cq, gpr_timespec deadline, void* tag) {
  using Fn = void (*)(grpc::Alarm*, grpc::CompletionQueue*, gpr_timespec, void*);
  static const auto real =
      Next<Fn>("_ZN4grpc5Alarm11SetInternalEPNS_15CompletionQueueE12gpr_timespecPv");
  __tsan_release(&g_queue_edge);
  real(this, cq, deadline, tag);
}
