package smtpbridge

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

type eventsStream = grpc.BidiStreamingClient[pb.SinkRequests, pb.SinkAnswers]

func openEvents(t *testing.T, conn *grpc.ClientConn) (eventsStream, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	stream, err := pb.NewPolicySinkClient(conn).OnEvents(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return stream, cancel
}

func streamRequest(id uint64, t EventType, keyword string, props map[string]string) *pb.SinkRequest {
	req := request(t, keyword, props)
	req.StreamId = id
	return req
}

// receive reads answer messages until it has n answers, keyed by stream_id.
func receive(t *testing.T, stream eventsStream, n int) map[uint64]*pb.SinkAnswer {
	t.Helper()
	got := map[uint64]*pb.SinkAnswer{}
	for len(got) < n {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d of %d answers: %v", len(got), n, err)
		}
		for _, a := range msg.GetAnswers() {
			if _, dup := got[a.GetStreamId()]; dup {
				t.Fatalf("two answers for stream_id %d", a.GetStreamId())
			}
			got[a.GetStreamId()] = a
		}
	}
	return got
}

// expectEnd half-closes and checks the stream ends with OK and no further answer.
func expectEnd(t *testing.T, stream eventsStream) {
	t.Helper()
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the half-close: %v, %v; want the stream to end with OK", msg, err)
	}
}

func TestOnEventsAnswersEveryRequestOfABatchByStreamID(t *testing.T) {
	w := NewWorker()
	w.Handle(InboundCommand, "RCPT", func(_ context.Context, ev *EventContext) (*Verdict, error) {
		return Reject(550, "5.7.1", "no "+ev.Property("n")), nil
	})
	conn, stop := startWorker(t, w)
	defer stop()
	stream, cancel := openEvents(t, conn)
	defer cancel()

	const n = 20
	batch := &pb.SinkRequests{}
	for i := uint64(1); i <= n; i++ {
		batch.Requests = append(batch.Requests, streamRequest(i*7, InboundCommand, "RCPT",
			map[string]string{"n": strconv.FormatUint(i*7, 10)}))
	}
	if err := stream.Send(batch); err != nil {
		t.Fatal(err)
	}
	got := receive(t, stream, n)
	for i := uint64(1); i <= n; i++ {
		a := got[i*7]
		if a.GetErrorCode() != 0 || a.GetVerdict().GetReply().GetLines()[0] != "no "+strconv.FormatUint(i*7, 10) {
			t.Errorf("stream_id %d: %v", i*7, a)
		}
	}
	expectEnd(t, stream)
}

func TestOnEventsASlowHandlerHoldsBackNoOtherAnswer(t *testing.T) {
	release := make(chan struct{})
	w := NewWorker()
	w.Handle(InboundCommand, "DATA", func(context.Context, *EventContext) (*Verdict, error) {
		<-release
		return Tempfail(451, "4.3.0", "slow"), nil
	})
	w.Handle(InboundCommand, "RCPT", reasonHandler("fast"))
	conn, stop := startWorker(t, w)
	defer stop()
	stream, cancel := openEvents(t, conn)
	defer cancel()

	// The slow request comes first in the batch; the fast ones complete before it, out of order.
	batch := &pb.SinkRequests{Requests: []*pb.SinkRequest{streamRequest(1, InboundCommand, "DATA", nil)}}
	for i := uint64(2); i <= 5; i++ {
		batch.Requests = append(batch.Requests, streamRequest(i, InboundCommand, "RCPT", nil))
	}
	if err := stream.Send(batch); err != nil {
		t.Fatal(err)
	}
	fast := receive(t, stream, 4) // blocks forever if the slow handler held the others back
	if _, ok := fast[1]; ok {
		t.Fatal("the slow request was answered before it was released")
	}
	for i := uint64(2); i <= 5; i++ {
		if fast[i].GetVerdict().GetReason() != "fast" {
			t.Errorf("stream_id %d: %v", i, fast[i])
		}
	}
	close(release)
	slow := receive(t, stream, 1)
	if slow[1].GetVerdict().GetAction() != pb.Action_ACTION_TEMPFAIL {
		t.Fatalf("slow answer %v", slow[1])
	}
	expectEnd(t, stream)
}

func TestOnEventsHandlerErrorsBecomeErrorCodes(t *testing.T) {
	w := NewWorker()
	w.Handle(InboundCommand, "DATA", func(context.Context, *EventContext) (*Verdict, error) {
		return nil, Error(codes.Unavailable, "scanner down")
	})
	w.Handle(InboundCommand, "RCPT", func(context.Context, *EventContext) (*Verdict, error) { panic("bad handler") })
	w.Handle(InboundCommand, "MAIL", func(context.Context, *EventContext) (*Verdict, error) {
		return Reject(250, "", "not a rejection"), nil
	})
	conn, stop := startWorker(t, w)
	defer stop()
	stream, cancel := openEvents(t, conn)
	defer cancel()
	if err := stream.Send(&pb.SinkRequests{Requests: []*pb.SinkRequest{
		streamRequest(1, InboundCommand, "DATA", nil),
		streamRequest(2, InboundCommand, "RCPT", nil),
		streamRequest(3, InboundCommand, "MAIL", nil),
	}}); err != nil {
		t.Fatal(err)
	}
	got := receive(t, stream, 3)
	want := map[uint64]codes.Code{1: codes.Unavailable, 2: codes.Internal, 3: codes.Internal}
	for id, code := range want {
		if codes.Code(got[id].GetErrorCode()) != code || got[id].GetVerdict() != nil || got[id].GetErrorMessage() == "" {
			t.Errorf("stream_id %d: %v, want error code %v and no verdict", id, got[id], code)
		}
	}
	if got[1].GetErrorMessage() != "scanner down" {
		t.Errorf("error message %q, want the handler's", got[1].GetErrorMessage())
	}
	expectEnd(t, stream)
}

func TestOnEventsCancelReachesTheHandlersContext(t *testing.T) {
	started := make(chan struct{})
	w := NewWorker()
	w.Handle(InboundCommand, "RCPT", func(ctx context.Context, _ *EventContext) (*Verdict, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	conn, stop := startWorker(t, w)
	defer stop()
	stream, cancel := openEvents(t, conn)
	defer cancel()
	if err := stream.Send(&pb.SinkRequests{Requests: []*pb.SinkRequest{streamRequest(9, InboundCommand, "RCPT", nil)}}); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := stream.Send(&pb.SinkRequests{Cancel: []uint64{9}}); err != nil {
		t.Fatal(err)
	}
	got := receive(t, stream, 1)
	if codes.Code(got[9].GetErrorCode()) != codes.Canceled {
		t.Fatalf("cancelled request answered %v, want CANCELLED", got[9])
	}
	expectEnd(t, stream)
}

func TestOnEventsGivesHandlersTimeLeftAndTheTraceparent(t *testing.T) {
	type seen struct {
		deadline time.Time
		has      bool
		traceID  string
	}
	saw := make(chan seen, 1)
	w := NewWorker()
	w.Handle(Connect, "", func(ctx context.Context, ev *EventContext) (*Verdict, error) {
		d, ok := ctx.Deadline()
		saw <- seen{d, ok, ev.TraceID()}
		return nil, nil
	})
	conn, stop := startWorker(t, w)
	defer stop()
	stream, cancel := openEvents(t, conn)
	defer cancel()
	req := streamRequest(1, Connect, "", nil)
	req.TimeLeft = durationpb.New(time.Hour)
	req.Traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	before := time.Now()
	if err := stream.Send(&pb.SinkRequests{Requests: []*pb.SinkRequest{req}}); err != nil {
		t.Fatal(err)
	}
	receive(t, stream, 1)
	s := <-saw
	if !s.has || s.deadline.Before(before.Add(time.Hour)) || s.deadline.After(time.Now().Add(time.Hour)) {
		t.Errorf("handler deadline %v (set %v), want time_left (an hour) from the request", s.deadline, s.has)
	}
	if s.traceID != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("trace id %q from the request's traceparent", s.traceID)
	}
	expectEnd(t, stream)
}

func TestOnEventsAndOnEventGiveTheSameVerdict(t *testing.T) {
	w := NewWorker()
	w.Handle(InboundCommand, "RCPT", func(_ context.Context, ev *EventContext) (*Verdict, error) {
		return Reject(550, "5.7.1", "no "+ev.Recipient()).Tag("blocked").Reason(ev.TraceID()), nil
	})
	conn, stop := startWorker(t, w)
	defer stop()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req := request(InboundCommand, "RCPT", nil)
	req.Event.Envelope = &pb.Envelope{Recipient: "bad@example.com"}
	req.TimeLeft = durationpb.New(time.Second)

	ctx, cancelCall := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "traceparent", tp), 10*time.Second)
	defer cancelCall()
	unary, err := pb.NewPolicySinkClient(conn).OnEvent(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	stream, cancel := openEvents(t, conn)
	defer cancel()
	streamed := proto.Clone(req).(*pb.SinkRequest)
	streamed.StreamId, streamed.Traceparent = 1, tp
	if err := stream.Send(&pb.SinkRequests{Requests: []*pb.SinkRequest{streamed}}); err != nil {
		t.Fatal(err)
	}
	got := receive(t, stream, 1)[1]
	if !proto.Equal(unary, got.GetVerdict()) || unary.GetReason() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("OnEvent gave %v, OnEvents %v", unary, got.GetVerdict())
	}
	expectEnd(t, stream)
}

func TestOnEventsDrainAnswersWhatItOwesThenEndsOK(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	w := NewWorker(WithGracePeriod(20 * time.Second))
	w.Handle(Connect, "", func(context.Context, *EventContext) (*Verdict, error) {
		close(started)
		<-release
		return Reject(554, "5.7.1", "late but answered"), nil
	})
	conn, stop := startWorker(t, w)
	stream, cancel := openEvents(t, conn)
	defer cancel()
	if err := stream.Send(&pb.SinkRequests{Requests: []*pb.SinkRequest{streamRequest(1, Connect, "", nil)}}); err != nil {
		t.Fatal(err)
	}
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// The stream stays open (no half-close from this side): the worker ends it once it owes nothing.
	<-w.draining
	close(release)
	got := receive(t, stream, 1)
	if got[1].GetVerdict().GetAction() != pb.Action_ACTION_REJECT {
		t.Fatalf("owed answer %v", got[1])
	}
	if msg, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the owed answer: %v, %v; want the worker to end the stream with OK", msg, err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve returned %v after the drain", err)
	}
}

// fakeEvents is the server side of an OnEvents call without a network: Recv reads `in` (io.EOF
// once it is closed), Send reports each message on `sent` and returns only when `release` says.
type fakeEvents struct {
	grpc.ServerStream
	ctx     context.Context
	in      chan *pb.SinkRequests
	sent    chan *pb.SinkAnswers
	release chan struct{}
}

func (f *fakeEvents) Context() context.Context { return f.ctx }
func (f *fakeEvents) Recv() (*pb.SinkRequests, error) {
	if m, ok := <-f.in; ok {
		return m, nil
	}
	return nil, io.EOF
}
func (f *fakeEvents) Send(m *pb.SinkAnswers) error {
	f.sent <- m
	<-f.release
	return nil
}

func TestOnEventsAnswersCompletedDuringAWriteGoOutTogether(t *testing.T) {
	// Each handler watches its context: OnEvents cancels it as it takes the answer in, just
	// before queueing it, so `taken` says the answer is queued behind the blocked write.
	taken := make(chan string, 3)
	w := NewWorker()
	w.Handle(InboundCommand, AnyKeyword, func(ctx context.Context, ev *EventContext) (*Verdict, error) {
		go func() { <-ctx.Done(); taken <- ev.Keyword() }()
		return Continue().Reason(ev.Keyword()), nil
	})
	f := &fakeEvents{ctx: context.Background(), in: make(chan *pb.SinkRequests),
		sent: make(chan *pb.SinkAnswers, 3), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- w.OnEvents(f) }()

	f.in <- &pb.SinkRequests{Requests: []*pb.SinkRequest{streamRequest(1, InboundCommand, "A", nil)}}
	first := <-f.sent // written at once, alone: no waiting to fill a batch
	if len(first.GetAnswers()) != 1 || first.GetAnswers()[0].GetStreamId() != 1 {
		t.Fatalf("first message %v", first)
	}
	<-taken
	f.in <- &pb.SinkRequests{Requests: []*pb.SinkRequest{
		streamRequest(2, InboundCommand, "B", nil), streamRequest(3, InboundCommand, "C", nil)}}
	<-taken
	<-taken
	f.release <- struct{}{} // the first write completes; both queued answers go in the next one
	second := <-f.sent
	if len(second.GetAnswers()) != 2 {
		t.Fatalf("second message %v, want the two answers completed during the first write", second)
	}
	f.release <- struct{}{}
	close(f.in)
	if err := <-done; err != nil {
		t.Fatalf("OnEvents returned %v after the half-close", err)
	}
}

func TestOnEventsACancelledStreamCancelsItsHandlers(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	w := NewWorker()
	w.Handle(InboundCommand, "NOOP", func(ctx context.Context, _ *EventContext) (*Verdict, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	})
	conn, stop := startWorker(t, w)
	defer stop()
	stream, cancel := openEvents(t, conn)
	if err := stream.Send(&pb.SinkRequests{Requests: []*pb.SinkRequest{streamRequest(1, InboundCommand, "NOOP", nil)}}); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	<-cancelled // the test times out if the handler's context outlives its stream
}
