// Command loadgen drives a fixed number of events through Dispatcher.Evaluate with N concurrent
// callers (a closed loop: each caller sends its next event when the previous answer arrives) and
// prints one JSON line: latency percentiles, events/s, and how many answers were wrong.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

type result struct {
	Label       string  `json:"label"`
	Events      int     `json:"events"`
	Concurrency int     `json:"concurrency"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	P999us      float64 `json:"p999_us"`
	EventsPerS  float64 `json:"events_per_s"`
	Errors      int64   `json:"errors"`
	Wrong       int64   `json:"wrong_verdicts"`
	FirstError  string  `json:"first_error,omitempty"`
}

func main() {
	target := flag.String("dispatcher", "", "dispatcher address host:port")
	events := flag.Int("events", 20000, "measured events (bounded)")
	warmup := flag.Int("warmup", 1000, "events sent first and not measured")
	concurrency := flag.Int("concurrency", 16, "concurrent callers")
	instance := flag.Uint("instance", 1, "virtual-server instance of the bench binding")
	budget := flag.Duration("budget", time.Second, "event budget")
	label := flag.String("label", "", "name printed with the result")
	flag.Parse()
	if *target == "" || *events <= 0 || *concurrency <= 0 || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "loadgen: --dispatcher is required; --events and --concurrency must be positive")
		os.Exit(2)
	}
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	defer conn.Close()
	client := pb.NewDispatcherClient(conn)

	req := func(i int) *pb.EvaluateRequest {
		return &pb.EvaluateRequest{Event: &pb.Event{
			EventId: fmt.Sprintf("bench-%d", i),
			Type:    pb.EventType_EVENT_TYPE_INBOUND_COMMAND,
			Session: &pb.SessionContext{
				SessionId: fmt.Sprintf("bench-session-%d", i%64), Instance: uint32(*instance),
				HostKind: pb.HostKind_HOST_KIND_TEST, HeloName: "bench.example",
				Client: &pb.Endpoint{Address: "192.0.2.10", Port: 40000},
			},
			Envelope: &pb.Envelope{Sender: "sender@bench.example", HasSender: true,
				Recipient: fmt.Sprintf("rcpt%d@bench.example", i)},
			Command: &pb.Command{Keyword: "RCPT", Argument: fmt.Sprintf("TO:<rcpt%d@bench.example>", i),
				Line: fmt.Sprintf("RCPT TO:<rcpt%d@bench.example>", i)},
			Response: &pb.SmtpReply{Code: 250, EnhancedCode: "2.1.5", Lines: []string{"OK"}},
			Budget:   durationpb.New(*budget),
		}}
	}

	res := result{Label: *label, Events: *events, Concurrency: *concurrency}
	firstErr := &atomic.Value{}
	run := func(n int, latencies []time.Duration) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < *concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					t0 := time.Now()
					resp, err := client.Evaluate(ctx, req(i))
					elapsed := time.Since(t0)
					cancel()
					if latencies != nil {
						latencies[i] = elapsed
					}
					switch {
					case err != nil:
						atomic.AddInt64(&res.Errors, 1)
						firstErr.CompareAndSwap(nil, err.Error())
					case resp.GetVerdict().GetAction() != pb.Action_ACTION_REJECT || resp.GetMatched() != 1:
						// The bench binding makes every worker reject: anything else means the
						// worker was not (correctly) consulted.
						atomic.AddInt64(&res.Wrong, 1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("unexpected answer %v", resp))
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}

	run(*warmup, nil)
	res.Errors, res.Wrong = 0, 0
	firstErr = &atomic.Value{}
	latencies := make([]time.Duration, *events)
	wall := run(*events, latencies)
	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	pct := func(p float64) float64 {
		idx := int(p * float64(len(latencies)-1))
		return float64(latencies[idx].Nanoseconds()) / 1e3
	}
	res.P50us, res.P99us, res.P999us = pct(0.50), pct(0.99), pct(0.999)
	res.EventsPerS = float64(*events) / wall.Seconds()
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if res.Errors+res.Wrong > 0 {
		os.Exit(1)
	}
}
