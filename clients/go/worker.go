package smtpbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

// HandlerFunc decides on one event. Return a verdict, or an error to make the dispatcher apply
// the binding's on_error (see Error for choosing the gRPC code). A nil verdict means Continue.
// ctx carries the dispatcher's deadline: what is left of the binding's time.
type HandlerFunc func(ctx context.Context, ev *EventContext) (*Verdict, error)

// AnyKeyword registers a handler for every keyword of an event type (and for events that have
// no command, such as CONNECT).
const AnyKeyword = "*"

// DefaultGracePeriod is how long Serve lets in-flight calls finish after its context is done
// (the same default in every SDK).
const DefaultGracePeriod = 10 * time.Second

type handlerKey struct {
	event   EventType
	keyword string
}

// Worker routes PolicySink calls to handlers by event type and command keyword.
type Worker struct {
	pb.UnimplementedPolicySinkServer

	mu       sync.RWMutex
	handlers map[handlerKey]HandlerFunc
	fallback HandlerFunc

	logger      *slog.Logger
	loggerSet   bool
	tls         *TLSFiles
	gracePeriod time.Duration
	serverOpts  []grpc.ServerOption
	reflection  bool
	onListen    func(net.Addr) error

	// Closed when Serve starts draining: open OnEvents streams answer what they owe and end.
	draining  chan struct{}
	drainOnce sync.Once
}

// Option configures a Worker.
type Option func(*Worker)

// WithLogger sets the logger (default: StderrLogger at SMTPBRIDGE_LOG_LEVEL, info when unset).
// At debug it gets one line per event; handler errors are logged at error, panics with their stack.
func WithLogger(l *slog.Logger) Option { return func(w *Worker) { w.logger, w.loggerSet = l, true } }

// WithTLS serves mutual TLS from these files (see TLSConfig), re-read when they change.
func WithTLS(files TLSFiles) Option { return func(w *Worker) { w.tls = &files } }

// WithGracePeriod bounds how long shutdown waits for in-flight calls (default 10 s).
func WithGracePeriod(d time.Duration) Option { return func(w *Worker) { w.gracePeriod = d } }

// WithServerOptions passes options (TLS credentials, interceptors, limits) to grpc.NewServer.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(w *Worker) { w.serverOpts = append(w.serverOpts, opts...) }
}

// WithoutReflection leaves the gRPC reflection service out (it is on by default).
func WithoutReflection() Option { return func(w *Worker) { w.reflection = false } }

// WithFallback handles events no registered handler matches (default: Continue).
func WithFallback(h HandlerFunc) Option { return func(w *Worker) { w.fallback = h } }

// WithOnListen is called with the bound address once Serve listens (e.g. to write a ready file);
// an error from it stops the server and Serve returns it.
func WithOnListen(f func(net.Addr) error) Option { return func(w *Worker) { w.onListen = f } }

// NewWorker makes a worker with no handlers.
func NewWorker(opts ...Option) *Worker {
	logger, err := StderrLogger(os.Getenv("SMTPBRIDGE_LOG_LEVEL"))
	if err != nil {
		logger, _ = StderrLogger("info")
	}
	w := &Worker{
		handlers:    map[handlerKey]HandlerFunc{},
		logger:      logger,
		gracePeriod: DefaultGracePeriod,
		reflection:  true,
		draining:    make(chan struct{}),
	}
	for _, opt := range opts {
		opt(w)
	}
	return w
}

// Handle registers h for events of type t whose command keyword is keyword (case-insensitive,
// e.g. "RCPT", "_EOD"), or for every keyword with AnyKeyword ("*") or "". A handler for the exact
// keyword wins over the AnyKeyword one. Registering the same pair twice panics, as http.ServeMux
// does: it is a programming error.
func (w *Worker) Handle(t EventType, keyword string, h HandlerFunc) {
	if h == nil {
		panic("smtpbridge: nil handler")
	}
	key := handlerKey{t, normalizeKeyword(keyword)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.handlers[key]; dup {
		panic(fmt.Sprintf("smtpbridge: a handler for %s %q is already registered", EventName(t), key.keyword))
	}
	w.handlers[key] = h
}

func normalizeKeyword(k string) string {
	k = strings.ToUpper(strings.TrimSpace(k))
	if k == "" {
		return AnyKeyword
	}
	return k
}

func (w *Worker) lookup(t EventType, keyword string) HandlerFunc {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if keyword != "" {
		if h, ok := w.handlers[handlerKey{t, strings.ToUpper(keyword)}]; ok {
			return h
		}
	}
	if h, ok := w.handlers[handlerKey{t, AnyKeyword}]; ok {
		return h
	}
	return w.fallback
}

// OnEvent implements smtpbridgev1.PolicySinkServer: find the handler, run it within the
// dispatcher's deadline, and map its outcome onto a verdict or a gRPC status.
func (w *Worker) OnEvent(ctx context.Context, req *pb.SinkRequest) (*pb.Verdict, error) {
	traceparent := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if tp := md.Get("traceparent"); len(tp) > 0 {
			traceparent = tp[0]
		}
	}
	return w.decide(ctx, req, traceparent)
}

// decide is one event's whole path, shared by OnEvent and OnEvents: the handler's context, the
// verdict checks and the error mapping (a gRPC status error) are the same on both transports.
func (w *Worker) decide(ctx context.Context, req *pb.SinkRequest, traceparent string) (*pb.Verdict, error) {
	ev := NewEvent(req)
	if traceparent != "" {
		ev = ev.WithTraceparent(traceparent)
	}
	// The gRPC deadline has millisecond resolution and may be absent (a direct call, or a
	// request on OnEvents); time_left is the dispatcher's own figure.
	if _, has := ctx.Deadline(); !has && ev.TimeLeft() > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ev.TimeLeft())
		defer cancel()
	}
	fields := []any{"event_id", ev.ID(), "event", ev.TypeName(), "keyword", ev.Keyword(),
		"binding", ev.BindingName(), "trace_id", ev.TraceID()}
	h := w.lookup(ev.Type(), ev.Keyword())
	if h == nil {
		w.logger.DebugContext(ctx, "event", append(fields, "action", "CONTINUE", "handler", false)...)
		return Continue().Proto(), nil
	}
	verdict, stack, err := w.call(ctx, h, ev)
	if err == nil && verdict != nil {
		err = verdict.Validate()
	}
	if err != nil {
		fields = append(fields, "error", err)
		if stack != "" {
			fields = append(fields, "stack", stack)
		}
		w.logger.ErrorContext(ctx, "handler failed", fields...)
		return nil, toStatus(err)
	}
	if verdict == nil {
		verdict = Continue()
	}
	w.logger.DebugContext(ctx, "event", append(fields, "action", strings.TrimPrefix(verdict.Action().String(), "ACTION_"))...)
	return verdict.Proto(), nil
}

// call runs the handler; a panic (an invalid verdict, a bug) becomes an error and its stack.
func (w *Worker) call(ctx context.Context, h HandlerFunc, ev *EventContext) (v *Verdict, stack string, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, stack, err = nil, string(debug.Stack()), panicError(r)
		}
	}()
	v, err = h(ctx, ev)
	return v, "", err
}

// Register adds the PolicySink service to an existing gRPC server, for programs that serve
// other services too. Serve does this (plus health and reflection) for you. On your own server an
// OnEvents stream ends when the dispatcher half-closes it (or the server cancels it); Serve's
// drain also ends it once it has answered what it owes.
func (w *Worker) Register(s grpc.ServiceRegistrar) { pb.RegisterPolicySinkServer(s, w) }

// Serve listens on addr ("127.0.0.1:50051", ":0", or "unix:/run/policy.sock") and serves until
// ctx is done, then drains: health turns NOT_SERVING, in-flight calls get the grace period, and
// Serve returns nil.
func (w *Worker) Serve(ctx context.Context, addr string) error {
	network, address := "tcp", addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", path
	}
	lis, err := net.Listen(network, address)
	if err != nil {
		return fmt.Errorf("smtpbridge: listen on %s: %w", addr, err)
	}
	return w.ServeListener(ctx, lis)
}

// ServeListener is Serve on a listener the caller made (a unix socket, a port chosen by a test).
func (w *Worker) ServeListener(ctx context.Context, lis net.Listener) error {
	opts := w.serverOpts
	if w.tls != nil {
		cfg, err := TLSConfig(*w.tls)
		if err != nil {
			lis.Close()
			return err
		}
		opts = append(append([]grpc.ServerOption{}, opts...), grpc.Creds(credentials.NewTLS(cfg)))
	}
	srv := grpc.NewServer(opts...)
	w.Register(srv)
	healthSrv := health.NewServer()
	healthSrv.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthSrv.SetServingStatus(pb.PolicySink_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, healthSrv)
	if w.reflection {
		reflection.Register(srv)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()
	w.logger.Info("worker listening", "address", lis.Addr().String(), "tls", w.tls != nil)
	if w.onListen != nil {
		if err := w.onListen(lis.Addr()); err != nil {
			srv.Stop()
			<-serveErr
			return err
		}
	}

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	w.logger.Info("worker draining", "grace_period", w.gracePeriod)
	healthSrv.Shutdown()
	w.drainOnce.Do(func() { close(w.draining) })
	drained := make(chan struct{})
	go func() { srv.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(w.gracePeriod):
		w.logger.Warn("grace period over, cancelling in-flight calls")
		srv.Stop()
		<-drained
	}
	if err := <-serveErr; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	w.logger.Info("worker stopped")
	return nil
}
