package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

// The built binary honours the repository's process conventions: --ready-file, then SIGTERM exits 0.
func TestBinaryWritesItsReadyFileAnswersAndExitsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "conformance-worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--ready-file", ready, "--log-level", "off")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()

	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(ready); err == nil && strings.HasSuffix(string(data), "\n") {
			addr = strings.TrimSpace(string(data))
		}
	}
	if addr == "" {
		t.Fatal("no ready file")
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := pb.NewPolicySinkClient(conn)
	v, err := client.OnEvent(ctx, &pb.SinkRequest{
		Event:   &pb.Event{Type: pb.EventType_EVENT_TYPE_CONNECT},
		Binding: &pb.Binding{SinkProperties: map[string]string{"verdict": "tempfail", "reply": "421 4.3.2 busy"}},
	})
	if err != nil || v.GetAction() != pb.Action_ACTION_TEMPFAIL || v.GetReply().GetCode() != 421 {
		t.Fatalf("got %v, %v", v, err)
	}
	_, err = client.OnEvent(ctx, &pb.SinkRequest{
		Event:   &pb.Event{Type: pb.EventType_EVENT_TYPE_SESSION_END},
		Binding: &pb.Binding{SinkProperties: map[string]string{"fail": "1"}},
	})
	if status.Code(err) != codes.Internal {
		t.Fatalf("fail=1: got %v, want INTERNAL", err)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not exit after SIGTERM")
	}
}
