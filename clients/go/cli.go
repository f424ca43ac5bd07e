package smtpbridge

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultListen is where Run listens without --listen or SMTPBRIDGE_LISTEN: loopback only.
const DefaultListen = "127.0.0.1:50051"

// Main runs the worker as a program (see Run) and exits the process with status 1 on an error.
func (w *Worker) Main() {
	if err := w.Run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

// Run is the command line every SDK's worker shares; each flag falls back to the environment:
//
//	--listen HOST:PORT|unix:PATH   SMTPBRIDGE_LISTEN (default 127.0.0.1:50051)
//	--ready-file PATH              SMTPBRIDGE_READY_FILE: the bound address and a newline, once listening
//	--log-level LEVEL              SMTPBRIDGE_LOG_LEVEL: debug (one line per event), info, warn, error, off
//	--tls-cert, --tls-key, --tls-client-ca FILE   SMTPBRIDGE_TLS_CERT, _KEY, _CLIENT_CA: mutual TLS
//
// It serves until SIGTERM or SIGINT, drains (health NOT_SERVING, in-flight calls finish within the
// grace period) and returns nil.
func (w *Worker) Run(args []string) error {
	env := os.Getenv
	or := func(v, d string) string {
		if v != "" {
			return v
		}
		return d
	}
	fs := flag.NewFlagSet(filepath.Base(os.Args[0]), flag.ContinueOnError)
	listen := fs.String("listen", or(env("SMTPBRIDGE_LISTEN"), DefaultListen), "HOST:PORT (port 0 picks one) or unix:PATH")
	readyFile := fs.String("ready-file", env("SMTPBRIDGE_READY_FILE"), "once listening, write the bound address and a newline here")
	level := fs.String("log-level", or(env("SMTPBRIDGE_LOG_LEVEL"), "info"), "debug, info, warn, error or off")
	var files TLSFiles
	fs.StringVar(&files.Cert, "tls-cert", env("SMTPBRIDGE_TLS_CERT"), "PEM certificate chain (mutual TLS)")
	fs.StringVar(&files.Key, "tls-key", env("SMTPBRIDGE_TLS_KEY"), "PEM private key (mutual TLS)")
	fs.StringVar(&files.ClientCA, "tls-client-ca", env("SMTPBRIDGE_TLS_CLIENT_CA"), "PEM CA bundle client certificates must chain to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !w.loggerSet {
		logger, err := StderrLogger(*level)
		if err != nil {
			return err
		}
		w.logger = logger
	}
	switch n := countNonEmpty(files.Cert, files.Key, files.ClientCA); n {
	case 0:
	case 3:
		w.tls = &files
	default:
		return fmt.Errorf("TLS needs all of --tls-cert, --tls-key and --tls-client-ca")
	}
	userOnListen := w.onListen
	w.onListen = func(addr net.Addr) error {
		if userOnListen != nil {
			if err := userOnListen(addr); err != nil {
				return err
			}
		}
		return writeReadyFile(*readyFile, addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return w.Serve(ctx, *listen)
}

func countNonEmpty(s ...string) int {
	n := 0
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	return n
}

// StderrLogger is a text logger on stderr at level (debug, info, warn, error, off; trace is
// debug). The worker's default logger is StderrLogger(SMTPBRIDGE_LOG_LEVEL or "info").
func StderrLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	switch strings.ToLower(level) {
	case "trace", "debug":
		l = slog.LevelDebug
	case "", "info":
		l = slog.LevelInfo
	case "warn", "warning":
		l = slog.LevelWarn
	case "error", "critical":
		l = slog.LevelError
	case "off":
		l = slog.LevelError + 100
	default:
		return nil, fmt.Errorf("unknown log level %q (debug, info, warn, error or off)", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// writeReadyFile writes addr atomically (temp file + rename), so a reader never sees half of it.
func writeReadyFile(path string, addr net.Addr) error {
	if path == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(tmp, "%s\n", addr.String()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
