package smtpbridge

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

// OnEvents implements the batched stream of smtpbridgev1.PolicySinkServer: every request runs in
// its own goroutine through the same path as OnEvent (decide), so a slow handler never holds back
// the others; answers that complete while a write is in flight go out together in the next
// message (no waiting to fill a batch). A status OnEvent would have returned becomes the answer's
// error_code and error_message. `cancel` cancels the handler's context. When the dispatcher
// half-closes, or Serve drains, the stream answers what it owes and ends with OK.
func (w *Worker) OnEvents(stream grpc.BidiStreamingServer[pb.SinkRequests, pb.SinkAnswers]) error {
	// A stream's own deadline (if its caller set one) is not an event's: each request gets its
	// time_left, as a unary call gets its gRPC deadline. The stream failing (Recv's error) or
	// ending cancels everything still running.
	ctx, cancelAll := context.WithCancel(context.WithoutCancel(stream.Context()))
	defer cancelAll()

	incoming := make(chan *pb.SinkRequests)
	readErr := make(chan error, 1)
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				readErr <- err
				return
			}
			select {
			case incoming <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()

	answers := make(chan *pb.SinkAnswer)
	writeReq := make(chan []*pb.SinkAnswer, 1)
	writeErr := make(chan error, 1)
	go func() {
		for batch := range writeReq {
			writeErr <- stream.Send(&pb.SinkAnswers{Answers: batch})
		}
	}()

	inflight := map[uint64]context.CancelFunc{}
	var pending []*pb.SinkAnswer
	writing, readDone, draining := false, false, false
	defer func() {
		close(writeReq)
		if writing { // no Send may outlive the handler: wait for it (the cancelled stream ends it)
			<-writeErr
		}
	}()
	drainSignal := w.draining
	flush := func() {
		if !writing && len(pending) > 0 {
			writing = true
			writeReq <- pending
			pending = nil
		}
	}
	start := func(req *pb.SinkRequest) {
		id := req.GetStreamId()
		if draining {
			// Like a unary call arriving during a drain: refused, so the dispatcher retries it
			// on another replica.
			pending = append(pending, &pb.SinkAnswer{StreamId: id, ErrorCode: int32(codes.Unavailable),
				ErrorMessage: "worker is draining"})
			return
		}
		if _, dup := inflight[id]; dup {
			pending = append(pending, &pb.SinkAnswer{StreamId: id, ErrorCode: int32(codes.InvalidArgument),
				ErrorMessage: "stream_id already in flight on this stream"})
			return
		}
		reqCtx, cancel := context.WithCancel(ctx)
		inflight[id] = cancel
		go func() {
			answer := &pb.SinkAnswer{StreamId: id}
			verdict, err := w.decide(reqCtx, req, req.GetTraceparent())
			if err != nil {
				st := status.Convert(err)
				answer.ErrorCode, answer.ErrorMessage = int32(st.Code()), st.Message()
			} else {
				answer.Verdict = verdict
			}
			select {
			case answers <- answer:
			case <-ctx.Done():
			}
		}()
	}

	for {
		if (readDone || draining) && len(inflight) == 0 && len(pending) == 0 && !writing {
			return nil
		}
		select {
		case msg := <-incoming:
			for _, id := range msg.GetCancel() {
				if cancel, ok := inflight[id]; ok {
					cancel() // the handler sees ctx.Err(); its answer still comes back
				}
			}
			for _, req := range msg.GetRequests() {
				start(req)
			}
		case err := <-readErr:
			if !errors.Is(err, io.EOF) {
				return err
			}
			readDone = true
		case <-drainSignal:
			draining, drainSignal = true, nil
		case answer := <-answers:
			if cancel, ok := inflight[answer.GetStreamId()]; ok {
				cancel()
				delete(inflight, answer.GetStreamId())
			}
			pending = append(pending, answer)
		case err := <-writeErr:
			writing = false
			if err != nil {
				return err
			}
		}
		flush()
	}
}
