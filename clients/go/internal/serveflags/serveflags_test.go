package serveflags

import (
	"flag"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestReadyFileHoldsTheAddressAndANewline(t *testing.T) {
	f := &Flags{ReadyFile: filepath.Join(t.TempDir(), "ready")}
	if err := f.WriteReadyFile(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.ReadyFile)
	if err != nil || string(data) != "127.0.0.1:5555\n" {
		t.Fatalf("ready file %q, %v", data, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(f.ReadyFile))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestReadyFileInAMissingFolderIsAnError(t *testing.T) {
	f := &Flags{ReadyFile: filepath.Join(t.TempDir(), "no", "such", "ready")}
	if err := f.WriteReadyFile(&net.TCPAddr{}); err == nil {
		t.Fatal("no error for an unwritable ready file")
	}
}

func TestFlagsAndLogLevels(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f := Register(fs, "127.0.0.1:1")
	if err := fs.Parse([]string{"--listen", "127.0.0.1:0", "--log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	if f.Listen != "127.0.0.1:0" {
		t.Fatalf("listen %q", f.Listen)
	}
	for _, level := range []string{"trace", "debug", "info", "warn", "error", "off"} {
		f.LogLevel = level
		if _, err := f.Logger(); err != nil {
			t.Errorf("level %s: %v", level, err)
		}
	}
	f.LogLevel = "loud"
	if _, err := f.Logger(); err == nil {
		t.Error("unknown level accepted")
	}
}
