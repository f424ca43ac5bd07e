package smtpbridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

func request(t EventType, keyword string, props map[string]string) *pb.SinkRequest {
	return &pb.SinkRequest{
		Event:   &pb.Event{Type: t, Command: &pb.Command{Keyword: keyword}},
		Binding: &pb.Binding{Name: "test", SinkProperties: props},
	}
}

func reasonHandler(reason string) HandlerFunc {
	return func(context.Context, *EventContext) (*Verdict, error) { return Continue().Reason(reason), nil }
}

func TestDispatchPrefersTheExactKeywordThenTheWildcardThenTheFallback(t *testing.T) {
	w := NewWorker(WithFallback(reasonHandler("fallback")))
	w.Handle(InboundCommand, "rcpt", reasonHandler("rcpt"))
	w.Handle(InboundCommand, AnyKeyword, reasonHandler("any inbound"))
	w.Handle(Connect, "", reasonHandler("connect"))

	cases := []struct {
		event   EventType
		keyword string
		want    string
	}{
		{InboundCommand, "RCPT", "rcpt"},
		{InboundCommand, "MAIL", "any inbound"},
		{Connect, "", "connect"},
		{ServerResponse, "", "fallback"},
	}
	for _, c := range cases {
		v, err := w.OnEvent(context.Background(), request(c.event, c.keyword, nil))
		if err != nil {
			t.Fatalf("%v %q: %v", c.event, c.keyword, err)
		}
		if v.GetReason() != c.want {
			t.Errorf("%v %q went to %q, want %q", c.event, c.keyword, v.GetReason(), c.want)
		}
	}
}

func TestDispatchWithoutAHandlerOrAVerdictContinues(t *testing.T) {
	w := NewWorker()
	w.Handle(InboundCommand, "MAIL", func(context.Context, *EventContext) (*Verdict, error) { return nil, nil })
	for _, kw := range []string{"MAIL", "RCPT"} {
		v, err := w.OnEvent(context.Background(), request(InboundCommand, kw, nil))
		if err != nil || v.GetAction() != pb.Action_ACTION_CONTINUE {
			t.Errorf("%s: got %v, %v; want CONTINUE", kw, v, err)
		}
	}
}

func TestHandleRefusesADuplicateRegistration(t *testing.T) {
	w := NewWorker()
	w.Handle(InboundCommand, "RCPT", reasonHandler("a"))
	defer func() {
		if recover() == nil {
			t.Fatal("second Handle for the same event and keyword did not panic")
		}
	}()
	w.Handle(InboundCommand, "rcpt", reasonHandler("b"))
}

func TestDispatchGivesTheHandlerTheDispatchersTimeLeft(t *testing.T) {
	w := NewWorker()
	var deadline time.Time
	var hasDeadline bool
	w.Handle(Connect, "", func(ctx context.Context, _ *EventContext) (*Verdict, error) {
		deadline, hasDeadline = ctx.Deadline()
		return nil, nil
	})
	req := request(Connect, "", nil)
	req.TimeLeft = durationpb.New(time.Hour)
	before := time.Now()
	if _, err := w.OnEvent(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if !hasDeadline || deadline.Before(before.Add(time.Hour)) {
		t.Fatalf("handler deadline = %v (set %v), want about an hour from the call", deadline, hasDeadline)
	}
}

func TestHandlerErrorsBecomeGRPCStatuses(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"plain error", errors.New("boom"), codes.Internal},
		{"status error", Error(codes.Unavailable, "backend %s down", "x"), codes.Unavailable},
		{"wrapped status", fmt.Errorf("lookup: %w", status.Error(codes.ResourceExhausted, "quota")), codes.ResourceExhausted},
		{"deadline", fmt.Errorf("dns: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"cancelled", context.Canceled, codes.Canceled},
	}
	for _, c := range cases {
		w := NewWorker()
		w.Handle(InboundCommand, "RCPT", func(context.Context, *EventContext) (*Verdict, error) { return nil, c.err })
		_, err := w.OnEvent(context.Background(), request(InboundCommand, "RCPT", nil))
		if got := status.Code(err); got != c.want {
			t.Errorf("%s: code %v, want %v (err %v)", c.name, got, c.want, err)
		}
	}
}

func TestHandlerPanicsAndInvalidVerdictsBecomeInternal(t *testing.T) {
	w := NewWorker()
	w.Handle(InboundCommand, "RCPT", func(context.Context, *EventContext) (*Verdict, error) { panic("bad handler") })
	w.Handle(InboundCommand, "MAIL", func(context.Context, *EventContext) (*Verdict, error) {
		return Reject(250, "", "not a rejection"), nil
	})
	for _, kw := range []string{"RCPT", "MAIL"} {
		_, err := w.OnEvent(context.Background(), request(InboundCommand, kw, nil))
		if status.Code(err) != codes.Internal {
			t.Errorf("%s: got %v, want INTERNAL", kw, err)
		}
	}
}

// startWorker serves w on a loopback port and returns a client connection and a stop function
// that reports what Serve returned.
func startWorker(t *testing.T, w *Worker) (*grpc.ClientConn, func() error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.ServeListener(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	stop := func() error {
		defer conn.Close()
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("Serve did not return after its context was cancelled")
		}
	}
	return conn, stop
}

func TestRealServerAnswersARawClientStub(t *testing.T) {
	w := NewWorker(WithGracePeriod(5 * time.Second))
	w.Handle(InboundCommand, "RCPT", func(ctx context.Context, ev *EventContext) (*Verdict, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no deadline from the caller")
		}
		if ev.Recipient() == ev.Property("blocked") {
			return Reject(550, "5.7.1", "blocked "+ev.Recipient()).Tag("blocked"), nil
		}
		return Continue(), nil
	})
	w.Handle(InboundCommand, "DATA", func(context.Context, *EventContext) (*Verdict, error) {
		return nil, Error(codes.Unavailable, "scanner down")
	})
	conn, stop := startWorker(t, w)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := pb.NewPolicySinkClient(conn)
	req := request(InboundCommand, "RCPT", map[string]string{"blocked": "bad@example.com"})
	req.Event.Envelope = &pb.Envelope{Recipient: "bad@example.com"}
	v, err := client.OnEvent(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if v.GetAction() != pb.Action_ACTION_REJECT || v.GetReply().GetCode() != 550 ||
		v.GetReply().GetLines()[0] != "blocked bad@example.com" || v.GetTags()[0] != "blocked" {
		t.Fatalf("unexpected verdict %v", v)
	}
	req.Event.Envelope.Recipient = "good@example.com"
	if v, err = client.OnEvent(ctx, req); err != nil || v.GetAction() != pb.Action_ACTION_CONTINUE {
		t.Fatalf("good recipient: %v, %v", v, err)
	}
	if _, err = client.OnEvent(ctx, request(InboundCommand, "DATA", nil)); status.Code(err) != codes.Unavailable {
		t.Fatalf("DATA: got %v, want UNAVAILABLE", err)
	}

	health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "smtpbridge.v1.PolicySink"})
	if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", health, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	listed, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	var names []string
	for _, s := range listed.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "smtpbridge.v1.PolicySink") {
		t.Fatalf("reflection lists %v, without smtpbridge.v1.PolicySink", names)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v, want nil after a graceful shutdown", err)
	}
}

func TestShutdownLetsAnInFlightCallFinish(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	w := NewWorker(WithGracePeriod(20 * time.Second))
	w.Handle(Connect, "", func(context.Context, *EventContext) (*Verdict, error) {
		close(started)
		<-release
		return Reject(554, "5.7.1", "late but answered"), nil
	})
	conn, stop := startWorker(t, w)
	result := make(chan error, 1)
	go func() {
		v, err := pb.NewPolicySinkClient(conn).OnEvent(context.Background(), request(Connect, "", nil))
		if err == nil && v.GetAction() != pb.Action_ACTION_REJECT {
			err = fmt.Errorf("verdict %v", v)
		}
		result <- err
	}()
	<-started
	stopped := make(chan error, 1)
	// Release the handler only once the worker is draining: a Watch stream (an open call, as a
	// probe's connection would be) sees the stock health server turn NOT_SERVING.
	watchCtx, cancelWatch := context.WithCancel(context.Background())
	defer cancelWatch()
	watch, err := healthpb.NewHealthClient(conn).Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health status %v, %v", first, err)
	}
	go func() { stopped <- stop() }()
	if next, err := watch.Recv(); err != nil || next.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health during drain %v, %v", next, err)
	}
	cancelWatch()
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("in-flight call during shutdown: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestServeReportsAnAddressItCannotListenOn(t *testing.T) {
	err := NewWorker().Serve(context.Background(), "127.0.0.1:notaport")
	if err == nil {
		t.Fatal("Serve accepted a bad address")
	}
}

func TestServeListensOnAUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.sock")
	ready := make(chan struct{})
	w := NewWorker(WithOnListen(func(net.Addr) error { close(ready); return nil }))
	w.Handle(Connect, "", func(context.Context, *EventContext) (*Verdict, error) { return Reject(554, "", "unix"), nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx, "unix:"+path) }()
	<-ready
	conn, err := grpc.NewClient("unix:"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v, err := pb.NewPolicySinkClient(conn).OnEvent(ctx, request(Connect, "", nil))
	if err != nil || v.GetReply().GetLines()[0] != "unix" {
		t.Fatalf("over a unix socket: %v, %v", v, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
