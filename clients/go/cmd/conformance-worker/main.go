// Command conformance-worker is the Go SDK's worker for the shared conformance suite
// (tests/vectors/SPEC.md): one handler for every event type, whose verdict the binding's
// sink_properties describe.
package main

import (
	"flag"
	"fmt"
	"os"

	smtpbridge "github.com/smtpbridge/smtpbridge/clients/go"
	"github.com/smtpbridge/smtpbridge/clients/go/internal/serveflags"
)

func main() {
	flags := serveflags.Register(flag.CommandLine, "127.0.0.1:0")
	flag.Parse()
	if err := run(flags); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-worker:", err)
		os.Exit(1)
	}
}

func run(flags *serveflags.Flags) error {
	logger, err := flags.Logger()
	if err != nil {
		return err
	}
	worker := smtpbridge.NewWorker(
		smtpbridge.WithLogger(logger),
		smtpbridge.WithOnListen(flags.WriteReadyFile),
	)
	for _, t := range smtpbridge.AllEventTypes {
		worker.Handle(t, smtpbridge.AnyKeyword, decide)
	}
	ctx, stop := serveflags.SignalContext()
	defer stop()
	return worker.Serve(ctx, flags.Listen)
}
