package smtpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestTraceparentReachesTheHandlerAndEveryLogLine(t *testing.T) {
	var logs syncBuffer
	w := NewWorker(WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	var seen string
	w.Handle(InboundCommand, "RCPT", func(_ context.Context, ev *EventContext) (*Verdict, error) {
		seen = ev.Traceparent()
		return Continue(), nil
	})
	w.Handle(InboundCommand, "MAIL", func(context.Context, *EventContext) (*Verdict, error) {
		return Reject(250, "", "a 2xx reject panics in the builder"), nil
	})
	conn, stop := startWorker(t, w)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", testTraceparent)
	client := pb.NewPolicySinkClient(conn)
	if _, err := client.OnEvent(ctx, request(InboundCommand, "RCPT", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.OnEvent(ctx, request(InboundCommand, "MAIL", nil)); err == nil {
		t.Fatal("an invalid verdict was sent")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if seen != testTraceparent {
		t.Fatalf("handler saw traceparent %q", seen)
	}
	var sawEvent, sawFailure, sawStopped bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch rec["msg"] {
		case "event":
			sawEvent = rec["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" && rec["level"] == "DEBUG"
		case "handler failed":
			stack, _ := rec["stack"].(string)
			sawFailure = rec["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" && strings.Contains(stack, "api_test.go")
		case "worker stopped":
			sawStopped = true
		}
	}
	if !sawEvent || !sawFailure || !sawStopped {
		t.Fatalf("event line %v, failure line with stack %v, stopped %v in:\n%s", sawEvent, sawFailure, sawStopped, logs.String())
	}
	if NewEvent(nil).WithTraceparent("junk").Traceparent() != "" {
		t.Fatal("a malformed traceparent was kept")
	}
}

// Run: flags and environment, the ready file, SIGTERM drains and returns nil.
func TestRunTakesFlagsAndEnvironmentAndStopsOnSIGTERM(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	t.Setenv("SMTPBRIDGE_READY_FILE", ready)
	t.Setenv("SMTPBRIDGE_LOG_LEVEL", "off")
	w := NewWorker()
	w.Handle(Connect, "", reasonHandler("run"))
	done := make(chan error, 1)
	go func() { done <- w.Run([]string{"--listen", "127.0.0.1:0"}) }()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(ready); err == nil {
			addr = strings.TrimSpace(string(data))
			break
		}
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("ready file address %q", addr)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := pb.NewPolicySinkClient(conn).OnEvent(context.Background(), request(Connect, "", nil))
	if err != nil || v.GetReason() != "run" {
		t.Fatalf("verdict %v, %v", v, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after SIGTERM")
	}
	if err := NewWorker().Run([]string{"--tls-cert", "only-one"}); err == nil {
		t.Fatal("a partial TLS configuration was accepted")
	}
}
