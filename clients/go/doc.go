// Package smtpbridge is the Go SDK for smtpbridge policy workers.
//
// A worker is a gRPC server implementing smtpbridge.v1.PolicySink. The dispatcher calls it with
// one SMTP protocol event at a time, plus the binding that matched and its sink_properties; the
// worker answers with a Verdict. This package hides the gRPC plumbing: register a handler per
// event type and command keyword, build verdicts with the chainable builder, and serve.
//
//	worker := smtpbridge.NewWorker()
//	worker.Handle(smtpbridge.InboundCommand, "RCPT", func(ctx context.Context, ev *smtpbridge.Event) (*smtpbridge.Verdict, error) {
//		if ev.Recipient() == ev.Property("blocked") {
//			return smtpbridge.Reject(550, "5.7.1", "recipient refused"), nil
//		}
//		return smtpbridge.Continue(), nil
//	})
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	log.Fatal(worker.Serve(ctx, "127.0.0.1:50051"))
//
// The generated protobuf and gRPC code lives in the smtpbridgev1 subpackage, generated from the
// repository's proto/ tree (test.sh fails when it drifts).
package smtpbridge
