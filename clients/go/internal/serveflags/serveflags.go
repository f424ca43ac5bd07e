// Package serveflags holds what every runnable worker in this module shares: the --listen and
// --ready-file conventions of the repository (docs/DEVELOPING.md) and SIGTERM handling.
package serveflags

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Flags are the command-line flags of a worker binary.
type Flags struct {
	Listen    string
	ReadyFile string
	LogLevel  string
}

// Register adds --listen, --ready-file and --log-level to fs.
func Register(fs *flag.FlagSet, defaultListen string) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Listen, "listen", defaultListen, "HOST:PORT to listen on (port 0 picks a free one)")
	fs.StringVar(&f.ReadyFile, "ready-file", "", "once listening, write the bound host:port and a newline here")
	fs.StringVar(&f.LogLevel, "log-level", "info", "debug, info, warn, error or off")
	return f
}

// Logger is a text logger on stderr at the chosen level.
func (f *Flags) Logger() (*slog.Logger, error) {
	var level slog.Level
	switch f.LogLevel {
	case "trace", "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "critical":
		level = slog.LevelError
	case "off":
		level = slog.LevelError + 100
	default:
		return nil, fmt.Errorf("--log-level: unknown level %q", f.LogLevel)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// WriteReadyFile writes addr atomically (temp file + rename), so a reader never sees half of it.
func (f *Flags) WriteReadyFile(addr net.Addr) error {
	if f.ReadyFile == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.ReadyFile), ".ready-*")
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
	return os.Rename(tmp.Name(), f.ReadyFile)
}

// SignalContext is done on SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}
