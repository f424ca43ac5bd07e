// Command conformance-worker is the Go SDK's worker for the shared conformance suite
// (tests/vectors/SPEC.md): one handler for every event type, whose verdict the binding's
// sink_properties describe.
package main

import (
	"os"

	smtpbridge "github.com/smtpbridge/smtpbridge/clients/go"
)

func main() {
	worker := smtpbridge.NewWorker()
	for _, t := range smtpbridge.AllEventTypes {
		worker.Handle(t, smtpbridge.AnyKeyword, decide)
	}
	// Port 0 unless --listen says otherwise (a later flag wins).
	os.Args = append([]string{os.Args[0], "--listen", "127.0.0.1:0"}, os.Args[1:]...)
	worker.Main()
}
