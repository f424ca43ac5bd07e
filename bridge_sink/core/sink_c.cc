// The C ABI (include/smtpbridge/sink/sink_c.h) over the C++ Sink. No exception crosses it.
#include "smtpbridge/sink/sink_c.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "smtpbridge/sink/sink_factory.h"
#include "smtpbridge/v1/names.h"
#include "smtpbridge/v1/smtp_text.h"

struct smtpbridge_sink {
  std::unique_ptr<smtpbridge::sink::Sink> sink;
};

namespace {

namespace sb = smtpbridge::sink;
namespace v1 = smtpbridge::v1;

static_assert(static_cast<int>(SMTPBRIDGE_EVENT_CONNECT) == v1::EVENT_TYPE_CONNECT);
static_assert(static_cast<int>(SMTPBRIDGE_EVENT_SERVER_RESPONSE) == v1::EVENT_TYPE_SERVER_RESPONSE);
static_assert(static_cast<int>(SMTPBRIDGE_ACTION_SKIP_RECIPIENT) == v1::ACTION_SKIP_RECIPIENT);
static_assert(static_cast<int>(SMTPBRIDGE_ACTION_DEFER_IF_REJECT) == v1::ACTION_DEFER_IF_REJECT);
static_assert(SMTPBRIDGE_SOURCE_LOCAL_RULES == static_cast<int>(sb::VerdictSource::kLocalRules));
static_assert(SMTPBRIDGE_SOURCE_CACHE == static_cast<int>(sb::VerdictSource::kCache));
static_assert(SMTPBRIDGE_REASON_SHUTDOWN == static_cast<int>(sb::FallbackReason::kShutdown));
static_assert(SMTPBRIDGE_REASON_SHED == static_cast<int>(sb::FallbackReason::kShed));

thread_local std::string last_error;

int Fail(const std::string& message) {
  last_error = message;
  return -1;
}

// Largest event the ABI accepts: well above any body limit a binding can ask for.
constexpr std::size_t kMaxEventBytes = 256u * 1024 * 1024;

bool BuildEvent(int event_type, uint32_t instance, const char* command_line, const char* client_ip,
                const char* sender, const char* recipient, v1::Event* event) {
  if (!v1::EventType_IsValid(event_type) || event_type == v1::EVENT_TYPE_UNSPECIFIED) {
    Fail("smtpbridge_event_build: unknown event type " + std::to_string(event_type));
    return false;
  }
  if (instance == 0) {
    Fail("smtpbridge_event_build: instance must be >= 1");
    return false;
  }
  event->set_type(static_cast<v1::EventType>(event_type));
  event->mutable_session()->set_instance(instance);
  if (command_line != nullptr && *command_line != '\0') {
    std::string line = v1::Utf8Safe(command_line);  // C strings may be 8-bit
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    const auto space = line.find(' ');
    std::string keyword = line.substr(0, space);
    for (char& c : keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    event->mutable_command()->set_keyword(keyword);
    if (space != std::string::npos) event->mutable_command()->set_argument(line.substr(space + 1));
    event->mutable_command()->set_line(line);
  }
  if (client_ip != nullptr)
    event->mutable_session()->mutable_client()->set_address(v1::Utf8Safe(client_ip));
  if (sender != nullptr) {
    event->mutable_envelope()->set_sender(v1::Utf8Safe(sender));
    event->mutable_envelope()->set_has_sender(true);
  }
  if (recipient != nullptr) event->mutable_envelope()->set_recipient(v1::Utf8Safe(recipient));
  return true;
}

int Evaluate(smtpbridge_sink* sink, v1::Event event, int64_t budget_us,
             smtpbridge_sink_done_fn done, void* user_data) {
  if (sink == nullptr || done == nullptr)
    return Fail("smtpbridge_sink_evaluate: null sink or callback");
  if (budget_us < 0) return Fail("smtpbridge_sink_evaluate: negative budget");
  sink->sink->Evaluate(
      std::move(event), std::chrono::microseconds(budget_us), [done, user_data](sb::Evaluation e) {
        const std::string bytes = e.verdict.SerializeAsString();
        done(user_data, bytes.data(), bytes.size(), static_cast<int>(e.source),
             static_cast<int>(e.reason),
             std::chrono::duration_cast<std::chrono::microseconds>(e.latency).count());
      });
  return 0;
}

bool ParseVerdict(const void* bytes, size_t size, v1::Verdict* verdict) {
  if (bytes == nullptr && size != 0) return false;
  return size <= INT32_MAX && verdict->ParseFromArray(bytes, static_cast<int>(size));
}

}  // namespace

extern "C" {

smtpbridge_sink* smtpbridge_sink_create(const char* dispatcher_target,
                                        const char* sink_config_path) {
  try {
    sb::SinkOptions options;
    if (sink_config_path != nullptr && *sink_config_path != '\0') {
      options = sb::LoadSinkOptions(sink_config_path);
    }
    if (dispatcher_target != nullptr && *dispatcher_target != '\0') {
      options.dispatcher_target = dispatcher_target;
    }
    auto handle = std::make_unique<smtpbridge_sink>();
    handle->sink = sb::MakeSink(options);
    last_error.clear();
    return handle.release();
  } catch (const std::exception& e) {
    Fail(e.what());
    return nullptr;
  }
}

int smtpbridge_sink_evaluate(smtpbridge_sink* sink, const void* event, size_t event_size,
                             int64_t budget_us, smtpbridge_sink_done_fn done, void* user_data) {
  try {
    if (event == nullptr && event_size != 0) return Fail("smtpbridge_sink_evaluate: null event");
    if (event_size > kMaxEventBytes) return Fail("smtpbridge_sink_evaluate: event too large");
    v1::Event parsed;
    if (!parsed.ParseFromArray(event, static_cast<int>(event_size))) {
      return Fail("smtpbridge_sink_evaluate: the bytes are not a serialized smtpbridge.v1.Event");
    }
    return Evaluate(sink, std::move(parsed), budget_us, done, user_data);
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
}

int smtpbridge_event_build(int event_type, uint32_t instance, const char* command_line,
                           const char* client_ip, const char* sender, const char* recipient,
                           void** out, size_t* out_size) {
  try {
    if (out == nullptr || out_size == nullptr) return Fail("smtpbridge_event_build: null output");
    v1::Event event;
    if (!BuildEvent(event_type, instance, command_line, client_ip, sender, recipient, &event))
      return -1;
    const std::string bytes = event.SerializeAsString();
    void* buffer = std::malloc(bytes.empty() ? 1 : bytes.size());
    if (buffer == nullptr) return Fail("smtpbridge_event_build: out of memory");
    std::memcpy(buffer, bytes.data(), bytes.size());
    *out = buffer;
    *out_size = bytes.size();
    return 0;
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
}

int smtpbridge_sink_evaluate_simple(smtpbridge_sink* sink, int event_type, uint32_t instance,
                                    const char* command_line, const char* client_ip,
                                    const char* sender, const char* recipient, int64_t budget_us,
                                    smtpbridge_sink_done_fn done, void* user_data) {
  try {
    v1::Event event;
    if (!BuildEvent(event_type, instance, command_line, client_ip, sender, recipient, &event))
      return -1;
    return Evaluate(sink, std::move(event), budget_us, done, user_data);
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
}

int smtpbridge_verdict_action(const void* verdict, size_t verdict_size) {
  v1::Verdict v;
  if (!ParseVerdict(verdict, verdict_size, &v))
    return Fail("not a serialized smtpbridge.v1.Verdict");
  return static_cast<int>(v.action());
}

int smtpbridge_verdict_reply_code(const void* verdict, size_t verdict_size) {
  v1::Verdict v;
  if (!ParseVerdict(verdict, verdict_size, &v))
    return Fail("not a serialized smtpbridge.v1.Verdict");
  return v.has_reply() ? static_cast<int>(v.reply().code()) : 0;
}

int smtpbridge_verdict_reply_text(const void* verdict, size_t verdict_size, char* buf,
                                  size_t buf_size) {
  v1::Verdict v;
  if (!ParseVerdict(verdict, verdict_size, &v))
    return Fail("not a serialized smtpbridge.v1.Verdict");
  const std::string text = v.has_reply() && v.reply().code() != 0 ? v1::ReplyText(v.reply()) : "";
  if (buf != nullptr && buf_size > 0) {
    const std::size_t n = std::min(text.size(), buf_size - 1);
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
  }
  return static_cast<int>(std::min<std::size_t>(text.size(), INT32_MAX));
}

int smtpbridge_sink_wants(const smtpbridge_sink* sink, uint32_t instance, int event_type,
                          const char* keyword) {
  if (sink == nullptr) return 1;
  return sink->sink->Wants(instance, static_cast<v1::EventType>(event_type),
                           keyword == nullptr ? std::string_view() : std::string_view(keyword))
             ? 1
             : 0;
}

uint32_t smtpbridge_sink_body_limit(const smtpbridge_sink* sink, uint32_t instance) {
  return sink == nullptr ? 0 : sink->sink->BodyLimit(instance);
}

void smtpbridge_sink_shutdown(smtpbridge_sink* sink) {
  if (sink != nullptr) sink->sink->Shutdown();
}

void smtpbridge_sink_destroy(smtpbridge_sink* sink) {
  if (sink == nullptr) return;
  sink->sink->Shutdown();
  delete sink;
}

void smtpbridge_free(void* buffer) { std::free(buffer); }

const char* smtpbridge_sink_last_error(void) { return last_error.c_str(); }

const char* smtpbridge_source_name(int source) {
  static const char* const kNames[] = {"dispatcher", "default", "stale_cache", "local_rules",
                                       "cache"};
  return source >= 0 && source < 5 ? kNames[source] : "unknown";
}

const char* smtpbridge_reason_name(int reason) {
  static const char* const kNames[] = {"none",         "budget_exceeded", "unavailable", "error",
                                       "circuit_open", "shutdown",        "shed"};
  return reason >= 0 && reason < 7 ? kNames[reason] : "unknown";
}

}  // extern "C"
