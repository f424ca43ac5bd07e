/* The sink's C ABI, for embedding in any MTA (libsmtpbridge_sink.so).
 *
 * A sink sends each event to the dispatcher over one persistent gRPC channel and answers within
 * the event's budget, from the dispatcher or from its local fallback (per-event default, circuit
 * breaker, stale cache, local rules; see docs/sink.md). Every function is thread-safe.
 *
 * Events and verdicts cross the ABI as serialized protobuf (smtpbridge.v1.Event in,
 * smtpbridge.v1.Verdict out), so embedders that speak protobuf get the whole contract;
 * smtpbridge_event_build() and the smtpbridge_verdict_*() accessors cover the simple cases
 * without protobuf.
 *
 * Do not load this library into a process that also links the smtpbridge C++ libraries
 * statically (the protobuf descriptors would be registered twice); use the C++ API there.
 */
#ifndef SMTPBRIDGE_SINK_SINK_C_H_
#define SMTPBRIDGE_SINK_SINK_C_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SMTPBRIDGE_SINK_API __attribute__((visibility("default")))
#else
#define SMTPBRIDGE_SINK_API
#endif

/* Opaque sink handle. */
typedef struct smtpbridge_sink smtpbridge_sink;

/* Event types: the numbers of smtpbridge.v1.EventType. */
enum smtpbridge_event_type {
  SMTPBRIDGE_EVENT_INBOUND_COMMAND = 1,
  SMTPBRIDGE_EVENT_SESSION_START = 2,
  SMTPBRIDGE_EVENT_MESSAGE_START = 3,
  SMTPBRIDGE_EVENT_PER_RECIPIENT = 4,
  SMTPBRIDGE_EVENT_BEFORE_DATA = 5,
  SMTPBRIDGE_EVENT_SESSION_END = 6,
  SMTPBRIDGE_EVENT_OUTBOUND_COMMAND = 7,
  SMTPBRIDGE_EVENT_SERVER_RESPONSE = 8,
  SMTPBRIDGE_EVENT_CONNECT = 9
};

/* Verdict actions: the numbers of smtpbridge.v1.Action (0, unspecified, means continue). */
enum smtpbridge_action {
  SMTPBRIDGE_ACTION_UNSPECIFIED = 0,
  SMTPBRIDGE_ACTION_CONTINUE = 1,
  SMTPBRIDGE_ACTION_RESPOND = 2,
  SMTPBRIDGE_ACTION_REJECT = 3,
  SMTPBRIDGE_ACTION_TEMPFAIL = 4,
  SMTPBRIDGE_ACTION_DROP_SESSION = 5,
  SMTPBRIDGE_ACTION_SKIP_RECIPIENT = 6,
  SMTPBRIDGE_ACTION_DEFER_IF_PERMIT = 7,
  SMTPBRIDGE_ACTION_DEFER_IF_REJECT = 8
};

/* Where a verdict came from (smtpbridge::sink::VerdictSource). */
enum smtpbridge_source {
  SMTPBRIDGE_SOURCE_DISPATCHER = 0,
  SMTPBRIDGE_SOURCE_DEFAULT = 1,
  SMTPBRIDGE_SOURCE_STALE_CACHE = 2,
  SMTPBRIDGE_SOURCE_LOCAL_RULES = 3,
  SMTPBRIDGE_SOURCE_CACHE = 4 /* fresh cache (the dispatcher's cache_ttl), not a fallback */
};

/* Why the fallback answered (smtpbridge::sink::FallbackReason). */
enum smtpbridge_reason {
  SMTPBRIDGE_REASON_NONE = 0,
  SMTPBRIDGE_REASON_BUDGET_EXCEEDED = 1,
  SMTPBRIDGE_REASON_UNAVAILABLE = 2,
  SMTPBRIDGE_REASON_ERROR = 3,
  SMTPBRIDGE_REASON_CIRCUIT_OPEN = 4,
  SMTPBRIDGE_REASON_SHUTDOWN = 5,
  SMTPBRIDGE_REASON_SHED = 6 /* the dispatcher shed the event (over a limit) */
};

/* Receives one evaluation's outcome, exactly once per successful evaluate call. `verdict` is a
 * serialized smtpbridge.v1.Verdict of `verdict_size` bytes, valid only during the call (copy it
 * to keep it). `source` is an smtpbridge_source, `reason` an smtpbridge_reason, `latency_us` the
 * time from the evaluate call to the answer. It runs either inside the evaluate call (open
 * breaker, shutdown) or on a sink thread: keep it short, and never destroy the sink from it. */
typedef void (*smtpbridge_sink_done_fn)(void* user_data, const void* verdict, size_t verdict_size,
                                        int source, int reason, int64_t latency_us);

/* Creates a sink. `dispatcher_target` is a gRPC target ("ipv4:127.0.0.1:50050",
 * "dns:///dispatcher:50050", "unix:/run/smtpbridge.sock"); NULL or "" keeps the config file's
 * (or the built-in default). `sink_config_path` is an optional YAML file with a `sink:` section
 * (docs/sink.md); NULL for defaults. The dispatcher need not be reachable yet. Returns NULL on
 * error (see smtpbridge_sink_last_error). */
SMTPBRIDGE_SINK_API smtpbridge_sink* smtpbridge_sink_create(const char* dispatcher_target,
                                                            const char* sink_config_path);

/* Evaluates one event given as a serialized smtpbridge.v1.Event, within `budget_us`
 * microseconds. Returns 0 when `done` will be called (exactly once), -1 on bad arguments or
 * unparsable bytes (then `done` is never called; see smtpbridge_sink_last_error). */
SMTPBRIDGE_SINK_API int smtpbridge_sink_evaluate(smtpbridge_sink* sink, const void* event,
                                                 size_t event_size, int64_t budget_us,
                                                 smtpbridge_sink_done_fn done, void* user_data);

/* Builds a simple serialized smtpbridge.v1.Event without protobuf: `event_type` an
 * smtpbridge_event_type, `instance` the virtual server (>= 1), `command_line` the SMTP command
 * without CRLF (e.g. "RCPT TO:<a@example.com>"; its verb becomes the keyword) or NULL, and the
 * optional (NULL) client IP, envelope sender and recipient. On success returns 0 and stores a
 * malloc'ed buffer in *out / its size in *out_size (release it with smtpbridge_free); -1 on bad
 * arguments. */
SMTPBRIDGE_SINK_API int smtpbridge_event_build(int event_type, uint32_t instance,
                                               const char* command_line, const char* client_ip,
                                               const char* sender, const char* recipient,
                                               void** out, size_t* out_size);

/* smtpbridge_event_build + smtpbridge_sink_evaluate in one call. */
SMTPBRIDGE_SINK_API int smtpbridge_sink_evaluate_simple(smtpbridge_sink* sink, int event_type,
                                                        uint32_t instance, const char* command_line,
                                                        const char* client_ip, const char* sender,
                                                        const char* recipient, int64_t budget_us,
                                                        smtpbridge_sink_done_fn done,
                                                        void* user_data);

/* Accessors on a serialized smtpbridge.v1.Verdict (as passed to smtpbridge_sink_done_fn).
 * smtpbridge_verdict_action: an smtpbridge_action, -1 when unparsable.
 * smtpbridge_verdict_reply_code: the SMTP reply code (e.g. 550), 0 when none, -1 unparsable.
 * smtpbridge_verdict_reply_text: writes "550 5.7.1 text" (multi-line replies joined with
 *   " / ") NUL-terminated into buf, truncating to buf_size - 1 bytes; returns the full
 *   length (like snprintf), 0 when there is no reply, -1 when unparsable. */
SMTPBRIDGE_SINK_API int smtpbridge_verdict_action(const void* verdict, size_t verdict_size);
SMTPBRIDGE_SINK_API int smtpbridge_verdict_reply_code(const void* verdict, size_t verdict_size);
SMTPBRIDGE_SINK_API int smtpbridge_verdict_reply_text(const void* verdict, size_t verdict_size,
                                                      char* buf, size_t buf_size);

/* Whether any enabled binding wants this event (unknown counts as wanted): 1 or 0.
 * `keyword` is the upper-case verb, or NULL/"" for any. */
SMTPBRIDGE_SINK_API int smtpbridge_sink_wants(const smtpbridge_sink* sink, uint32_t instance,
                                              int event_type, const char* keyword);

/* The most body octets any binding wants at end of data (0: headers only). */
SMTPBRIDGE_SINK_API uint32_t smtpbridge_sink_body_limit(const smtpbridge_sink* sink,
                                                        uint32_t instance);

/* Pending evaluations answer at once from the fallback (reason SHUTDOWN), later ones too. */
SMTPBRIDGE_SINK_API void smtpbridge_sink_shutdown(smtpbridge_sink* sink);

/* Shuts down (if needed) and frees the sink. NULL is ignored. */
SMTPBRIDGE_SINK_API void smtpbridge_sink_destroy(smtpbridge_sink* sink);

/* Frees a buffer returned by this library. */
SMTPBRIDGE_SINK_API void smtpbridge_free(void* buffer);

/* Text of the last error on this thread ("" when none); valid until the next call on the
 * same thread. */
SMTPBRIDGE_SINK_API const char* smtpbridge_sink_last_error(void);

/* Names for logs: "dispatcher", "default", ...; "budget_exceeded", "circuit_open", ... */
SMTPBRIDGE_SINK_API const char* smtpbridge_source_name(int source);
SMTPBRIDGE_SINK_API const char* smtpbridge_reason_name(int reason);

#ifdef __cplusplus
}
#endif

#endif /* SMTPBRIDGE_SINK_SINK_C_H_ */
