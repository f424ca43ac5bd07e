// Command example-worker is a small, sensible policy written with the Go SDK:
//
//   - RCPT: reject recipients listed in the binding's `blocked_recipients` property
//     (comma-separated, case-insensitive), caching the answer per recipient;
//   - MAIL: tempfail senders whose domain is in `tempfail_sender_domains`;
//   - _EOD: stamp the message with a header (`header_name`, default X-Smtpbridge-Policy).
//
// Anything else continues.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	smtpbridge "github.com/smtpbridge/smtpbridge/clients/go"
	"github.com/smtpbridge/smtpbridge/clients/go/internal/serveflags"
)

func main() {
	flags := serveflags.Register(flag.CommandLine, "127.0.0.1:50051")
	flag.Parse()
	logger, err := flags.Logger()
	if err == nil {
		worker := smtpbridge.NewWorker(smtpbridge.WithLogger(logger), smtpbridge.WithOnListen(flags.WriteReadyFile))
		worker.Handle(smtpbridge.InboundCommand, "RCPT", checkRecipient)
		worker.Handle(smtpbridge.InboundCommand, "MAIL", checkSender)
		worker.Handle(smtpbridge.InboundCommand, "_EOD", stampMessage)
		ctx, stop := serveflags.SignalContext()
		defer stop()
		err = worker.Serve(ctx, flags.Listen)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "example-worker:", err)
		os.Exit(1)
	}
}

func checkRecipient(_ context.Context, ev *smtpbridge.Event) (*smtpbridge.Verdict, error) {
	rcpt := ev.Recipient()
	for _, blocked := range ev.PropertyList("blocked_recipients") {
		if strings.EqualFold(rcpt, blocked) {
			return smtpbridge.Reject(550, "5.7.1", "recipient "+rcpt+" does not accept mail").
				Reason("blocked recipient").Tag("blocked-recipient").
				CacheFor(time.Minute, smtpbridge.ScopeRecipient), nil
		}
	}
	return smtpbridge.Continue(), nil
}

func checkSender(_ context.Context, ev *smtpbridge.Event) (*smtpbridge.Verdict, error) {
	_, domain, _ := strings.Cut(ev.Sender(), "@")
	for _, d := range ev.PropertyList("tempfail_sender_domains") {
		if domain != "" && strings.EqualFold(domain, d) {
			return smtpbridge.Tempfail(451, "4.7.1", "sender domain "+domain+" is greylisted, try later").
				Reason("greylisted sender domain").Tag("greylist"), nil
		}
	}
	return smtpbridge.Continue(), nil
}

func stampMessage(_ context.Context, ev *smtpbridge.Event) (*smtpbridge.Verdict, error) {
	name := ev.Property("header_name")
	if name == "" {
		name = "X-Smtpbridge-Policy"
	}
	return smtpbridge.Continue().
		AddHeader(name, fmt.Sprintf("checked by go example-worker; %d recipient(s)", len(ev.Recipients()))), nil
}
