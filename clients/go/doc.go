// Package smtpbridge is the Go SDK for smtpbridge policy workers.
//
// A worker is a gRPC server implementing smtpbridge.v1.PolicySink. The dispatcher sends it SMTP
// protocol events, each with the binding that matched and its sink_properties, one unary OnEvent
// call per event or batched on the OnEvents stream; the worker answers each with a Verdict. Both
// transports run the same handlers. This package hides the gRPC plumbing: register a handler per
// event type and command keyword, build verdicts with the chainable builder, and serve.
//
//	worker := smtpbridge.NewWorker()
//	worker.Handle(smtpbridge.InboundCommand, "RCPT", func(ctx context.Context, ev *smtpbridge.EventContext) (*smtpbridge.Verdict, error) {
//		if smtpbridge.AddressIn(ev.Recipient(), ev.PropertyList("blocked")) {
//			return smtpbridge.Reject(550, "5.7.1", "recipient blocked"), nil
//		}
//		return smtpbridge.Continue(), nil
//	})
//	worker.Main() // --listen, --ready-file, --log-level, --tls-*; SIGTERM drains
//
// The import path's last element is "go"; the package is named smtpbridge, so import it as
// smtpbridge "github.com/smtpbridge/smtpbridge/clients/go".
//
// The generated protobuf and gRPC code lives in the smtpbridgev1 subpackage, generated from the
// repository's proto/ tree (test.sh fails when it drifts).
package smtpbridge
