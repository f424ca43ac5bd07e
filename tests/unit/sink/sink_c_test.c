/* The C ABI, compiled as C, against a real dispatcher process (sink_test_dispatcher).
 *   sink_c_test PATH_TO_sink_test_dispatcher
 * Exits 0 when every check passed. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smtpbridge/sink/sink_c.h"

extern char** environ;

static int failures = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

/* One evaluation's outcome, handed from the sink's thread to the test's. */
struct outcome {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int calls;
  int action;
  int reply_code;
  char reply_text[128];
  int source;
  int reason;
  int64_t latency_us;
};

static void outcome_init(struct outcome* o) {
  memset(o, 0, sizeof *o);
  pthread_mutex_init(&o->mu, NULL);
  pthread_cond_init(&o->cv, NULL);
}

static void outcome_destroy(struct outcome* o) {
  pthread_mutex_destroy(&o->mu);
  pthread_cond_destroy(&o->cv);
}

static void on_done(void* user_data, const void* verdict, size_t verdict_size, int source,
                    int reason, int64_t latency_us) {
  struct outcome* o = (struct outcome*)user_data;
  pthread_mutex_lock(&o->mu);
  o->calls++;
  o->action = smtpbridge_verdict_action(verdict, verdict_size);
  o->reply_code = smtpbridge_verdict_reply_code(verdict, verdict_size);
  smtpbridge_verdict_reply_text(verdict, verdict_size, o->reply_text, sizeof o->reply_text);
  o->source = source;
  o->reason = reason;
  o->latency_us = latency_us;
  o->done = 1;
  pthread_cond_broadcast(&o->cv);
  pthread_mutex_unlock(&o->mu);
}

/* Waits (at most 20 s) for the outcome; returns 1 when it arrived. */
static int outcome_wait(struct outcome* o) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 20;
  pthread_mutex_lock(&o->mu);
  while (!o->done) {
    if (pthread_cond_timedwait(&o->cv, &o->mu, &until) == ETIMEDOUT) break;
  }
  int done = o->done;
  pthread_mutex_unlock(&o->mu);
  return done;
}

/* Starts the dispatcher process and reads its "127.0.0.1:PORT" from the ready file. */
static pid_t start_dispatcher(const char* binary, const char* dir, char* host_port, size_t size) {
  char ready[512];
  snprintf(ready, sizeof ready, "%s/ready", dir);
  char* argv[] = {(char*)binary, "--listen", "127.0.0.1:0", "--ready-file", ready, NULL};
  pid_t pid;
  if (posix_spawn(&pid, binary, NULL, NULL, argv, environ) != 0) return -1;
  for (int i = 0; i < 2000; ++i) { /* bounded: 20 s */
    FILE* f = fopen(ready, "r");
    if (f != NULL) {
      int ok = fgets(host_port, (int)size, f) != NULL;
      fclose(f);
      if (ok) {
        host_port[strcspn(host_port, "\r\n")] = '\0';
        return pid;
      }
    }
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    nanosleep(&ten_ms, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static void test_bad_input(void) {
  CHECK(smtpbridge_sink_create("ipv4:127.0.0.1:1", "/nonexistent/sink.yaml") == NULL);
  CHECK(strstr(smtpbridge_sink_last_error(), "/nonexistent/sink.yaml") != NULL);

  void* bytes = NULL;
  size_t size = 0;
  CHECK(smtpbridge_event_build(0, 1, "RCPT TO:<a@b>", NULL, NULL, NULL, &bytes, &size) == -1);
  CHECK(strlen(smtpbridge_sink_last_error()) > 0);
  CHECK(smtpbridge_event_build(1, 0, "RCPT TO:<a@b>", NULL, NULL, NULL, &bytes, &size) == -1);

  unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff};
  CHECK(smtpbridge_verdict_action(garbage, sizeof garbage) == -1);
  CHECK(strcmp(smtpbridge_reason_name(SMTPBRIDGE_REASON_CIRCUIT_OPEN), "circuit_open") == 0);
  CHECK(strcmp(smtpbridge_source_name(SMTPBRIDGE_SOURCE_STALE_CACHE), "stale_cache") == 0);
  CHECK(strcmp(smtpbridge_source_name(SMTPBRIDGE_SOURCE_CACHE), "cache") == 0);
}

static void test_against_dispatcher(const char* target) {
  smtpbridge_sink* sink = smtpbridge_sink_create(target, NULL);
  CHECK(sink != NULL);
  if (sink == NULL) {
    fprintf(stderr, "create: %s\n", smtpbridge_sink_last_error());
    return;
  }
  CHECK(smtpbridge_sink_wants(sink, 1, SMTPBRIDGE_EVENT_INBOUND_COMMAND, "RCPT") == 1);

  /* A reject from the dispatcher, through the convenience builder. */
  struct outcome rejected;
  outcome_init(&rejected);
  CHECK(smtpbridge_sink_evaluate_simple(sink, SMTPBRIDGE_EVENT_INBOUND_COMMAND, 1,
                                        "RCPT TO:<reject@example.com>", "192.0.2.1",
                                        "s@example.com", "reject@example.com", 5000000, on_done,
                                        &rejected) == 0);
  CHECK(outcome_wait(&rejected));
  CHECK(rejected.calls == 1);
  CHECK(rejected.source == SMTPBRIDGE_SOURCE_DISPATCHER);
  CHECK(rejected.reason == SMTPBRIDGE_REASON_NONE);
  CHECK(rejected.action == SMTPBRIDGE_ACTION_REJECT);
  CHECK(rejected.reply_code == 550);
  CHECK(strcmp(rejected.reply_text, "550 5.7.1 Rejected by test dispatcher") == 0);
  outcome_destroy(&rejected);

  /* Serialized event bytes; the dispatcher continues. */
  void* bytes = NULL;
  size_t size = 0;
  CHECK(smtpbridge_event_build(SMTPBRIDGE_EVENT_INBOUND_COMMAND, 1, "MAIL FROM:<ok@example.com>",
                               "192.0.2.1", "ok@example.com", NULL, &bytes, &size) == 0);
  struct outcome accepted;
  outcome_init(&accepted);
  CHECK(smtpbridge_sink_evaluate(sink, bytes, size, 5000000, on_done, &accepted) == 0);
  smtpbridge_free(bytes);
  CHECK(outcome_wait(&accepted));
  CHECK(accepted.source == SMTPBRIDGE_SOURCE_DISPATCHER);
  CHECK(accepted.action == SMTPBRIDGE_ACTION_CONTINUE);
  CHECK(accepted.reply_code == 0);
  CHECK(accepted.reply_text[0] == '\0');
  outcome_destroy(&accepted);

  /* A slow dispatcher loses to the budget: the fallback answers. */
  struct outcome late;
  outcome_init(&late);
  CHECK(smtpbridge_sink_evaluate_simple(sink, SMTPBRIDGE_EVENT_INBOUND_COMMAND, 1,
                                        "RCPT TO:<late@example.com>", "192.0.2.1", NULL, NULL,
                                        20000, on_done, &late) == 0);
  CHECK(outcome_wait(&late));
  CHECK(late.source == SMTPBRIDGE_SOURCE_DEFAULT);
  CHECK(late.reason == SMTPBRIDGE_REASON_BUDGET_EXCEEDED);
  CHECK(late.latency_us >= 20000);
  outcome_destroy(&late);

  /* Bytes that are not an Event: an error, and no callback. */
  unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff};
  struct outcome never;
  outcome_init(&never);
  CHECK(smtpbridge_sink_evaluate(sink, garbage, sizeof garbage, 1000, on_done, &never) == -1);
  CHECK(strstr(smtpbridge_sink_last_error(), "smtpbridge.v1.Event") != NULL);
  CHECK(never.calls == 0);
  outcome_destroy(&never);

  /* After shutdown, answers come inline from the fallback. */
  smtpbridge_sink_shutdown(sink);
  struct outcome after;
  outcome_init(&after);
  CHECK(smtpbridge_sink_evaluate_simple(sink, SMTPBRIDGE_EVENT_CONNECT, 1, NULL, "192.0.2.1",
                                        NULL, NULL, 1000, on_done, &after) == 0);
  CHECK(after.calls == 1);
  CHECK(after.reason == SMTPBRIDGE_REASON_SHUTDOWN);
  outcome_destroy(&after);
  smtpbridge_sink_destroy(sink);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH_TO_sink_test_dispatcher\n", argv[0]);
    return 2;
  }
  char dir[] = "/tmp/sink_c_test.XXXXXX";
  if (mkdtemp(dir) == NULL) return 2;
  test_bad_input();
  char host_port[64];
  pid_t pid = start_dispatcher(argv[1], dir, host_port, sizeof host_port);
  CHECK(pid > 0);
  if (pid > 0) {
    char target[96];
    snprintf(target, sizeof target, "ipv4:%s", host_port);
    test_against_dispatcher(target);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  char ready[512];
  snprintf(ready, sizeof ready, "%s/ready", dir);
  unlink(ready);
  rmdir(dir);
  if (failures == 0) printf("sink_c_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
