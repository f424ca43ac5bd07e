// Command example-worker is a small, sensible policy written with the Go SDK:
//
//   - RCPT: reject recipients listed in the binding's `blocked` property (comma-separated,
//     compared case-insensitively with smtpbridge.AddressIn), caching the answer per recipient;
//   - MAIL: tempfail senders whose domain is in `tempfail_sender_domains`;
//   - _EOD: stamp the message with a header (`header_name`, default X-Smtpbridge-Policy).
//
// Anything else continues. Flags (or SMTPBRIDGE_* environment) are Worker.Run's.
package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	smtpbridge "github.com/smtpbridge/smtpbridge/clients/go"
)

func main() {
	worker := smtpbridge.NewWorker()
	worker.Handle(smtpbridge.InboundCommand, "RCPT", checkRecipient)
	worker.Handle(smtpbridge.InboundCommand, "MAIL", checkSender)
	worker.Handle(smtpbridge.InboundCommand, "_EOD", stampMessage)
	worker.Main()
}

func checkRecipient(_ context.Context, ev *smtpbridge.EventContext) (*smtpbridge.Verdict, error) {
	if rcpt := ev.Recipient(); smtpbridge.AddressIn(rcpt, ev.PropertyList("blocked")) {
		return smtpbridge.Reject(550, "5.7.1", "recipient "+rcpt+" does not accept mail").
			Reason("blocked recipient").Tag("blocked").
			CacheFor(time.Minute, smtpbridge.ScopeRecipient), nil
	}
	return smtpbridge.Continue(), nil
}

func checkSender(_ context.Context, ev *smtpbridge.EventContext) (*smtpbridge.Verdict, error) {
	_, domain, _ := strings.Cut(ev.Sender(), "@")
	for _, d := range ev.PropertyList("tempfail_sender_domains") {
		if domain != "" && strings.EqualFold(domain, d) {
			return smtpbridge.Tempfail(451, "4.7.1", "sender domain "+domain+" is greylisted, try later").
				Reason("greylisted sender domain").Tag("greylist"), nil
		}
	}
	return smtpbridge.Continue(), nil
}

func stampMessage(_ context.Context, ev *smtpbridge.EventContext) (*smtpbridge.Verdict, error) {
	name := ev.Property("header_name")
	if name == "" {
		name = "X-Smtpbridge-Policy"
	}
	return smtpbridge.Continue().
		AddHeader(name, fmt.Sprintf("checked by go example-worker; %d recipient(s)", len(ev.Recipients()))), nil
}
