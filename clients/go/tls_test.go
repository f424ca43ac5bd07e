package smtpbridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/smtpbridge/smtpbridge/clients/go/smtpbridgev1"
)

// makeCerts writes, with openssl, ca.crt and other-ca.crt, server.{crt,key} (from ca, for
// 127.0.0.1), client.{crt,key} (from ca), other-client.{crt,key} (from other-ca) and
// expired-client.{crt,key} (from ca, expired in 2020).
func makeCerts(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	d := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = d
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	for _, ca := range []string{"ca", "other-ca"} {
		run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN="+ca, "-keyout", ca+".key", "-out", ca+".crt")
	}
	leaf := func(name, ca, ext string) {
		if err := os.WriteFile(filepath.Join(d, name+".ext"), []byte(ext), 0o600); err != nil {
			t.Fatal(err)
		}
		run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN="+name, "-keyout", name+".key", "-out", name+".csr")
		run("x509", "-req", "-in", name+".csr", "-CA", ca+".crt", "-CAkey", ca+".key", "-CAcreateserial", "-days", "2",
			"-extfile", name+".ext", "-out", name+".crt")
	}
	leaf("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
	leaf("client", "ca", "extendedKeyUsage=clientAuth\n")
	leaf("other-client", "other-ca", "extendedKeyUsage=clientAuth\n")
	leaf("server2", "other-ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
	// An expired client certificate from ca: `openssl ca` takes explicit dates.
	for name, content := range map[string]string{"ca.cnf": "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial.txt\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n",
		"index.txt": "", "serial.txt": "01\n", "expired-client.ext": "extendedKeyUsage=clientAuth\n"} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=expired-client", "-keyout", "expired-client.key", "-out", "expired-client.csr")
	run("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "expired-client.csr",
		"-out", "expired-client.crt", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
		"-extfile", "expired-client.ext", "-notext")
	return d
}

func tlsCall(t *testing.T, d, addr, client string) (*pb.Verdict, error) {
	t.Helper()
	conn := tlsConn(t, d, addr, client, "ca")
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pb.NewPolicySinkClient(conn).OnEvent(ctx, request(Connect, "", nil))
}

// tlsConn is a client connection presenting client's certificate (none when "") and trusting
// serverCA for the server's.
func tlsConn(t *testing.T, d, addr, client, serverCA string) *grpc.ClientConn {
	t.Helper()
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(filepath.Join(d, serverCA+".crt"))
	if err != nil || !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s.crt: %v", serverCA, err)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if client != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(d, client+".crt"), filepath.Join(d, client+".key"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, data, 0o600)
	}
	if err == nil {
		later := time.Now().Add(2 * time.Second)
		err = os.Chtimes(to, later, later)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestARotatedServerCertificateIsPickedUpWhileTrafficFlows(t *testing.T) {
	d := makeCerts(t)
	cert, key := filepath.Join(d, "live.crt"), filepath.Join(d, "live.key")
	copyFile(t, filepath.Join(d, "server.crt"), cert)
	copyFile(t, filepath.Join(d, "server.key"), key)
	w := NewWorker(WithTLS(TLSFiles{Cert: cert, Key: key, ClientCA: filepath.Join(d, "ca.crt")}))
	w.Handle(Connect, "", reasonHandler("served"))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.ServeListener(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	addr := lis.Addr().String()

	busy := tlsConn(t, d, addr, "client", "ca")
	defer busy.Close()
	answer := func() {
		t.Helper()
		c, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		if v, err := pb.NewPolicySinkClient(busy).OnEvent(c, request(Connect, "", nil)); err != nil || v.GetReason() != "served" {
			t.Fatalf("call on the open connection: %v, %v", v, err)
		}
	}
	for i := 0; i < 5; i++ {
		answer()
	}
	// Rotate to a certificate from another CA, key first.
	copyFile(t, filepath.Join(d, "server2.key"), key)
	copyFile(t, filepath.Join(d, "server2.crt"), cert)
	fresh := tlsConn(t, d, addr, "client", "other-ca")
	defer fresh.Close()
	c, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if v, err := pb.NewPolicySinkClient(fresh).OnEvent(c, request(Connect, "", nil)); err != nil || v.GetReason() != "served" {
		t.Fatalf("new connection after the rotation: %v, %v", v, err)
	}
	if _, err := tlsCall(t, d, addr, "client"); err == nil {
		t.Fatal("a new connection still got the old certificate")
	}
	for i := 0; i < 5; i++ {
		answer()
	}
}

func TestMutualTLSServesValidClientsRefusesOthersAndReloadsTheFiles(t *testing.T) {
	d := makeCerts(t)
	clientCA := filepath.Join(d, "client-ca.pem")
	copyFile(t, filepath.Join(d, "ca.crt"), clientCA)
	w := NewWorker(WithTLS(TLSFiles{Cert: filepath.Join(d, "server.crt"), Key: filepath.Join(d, "server.key"), ClientCA: clientCA}))
	w.Handle(Connect, "", reasonHandler("served"))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.ServeListener(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	addr := lis.Addr().String()

	if v, err := tlsCall(t, d, addr, "client"); err != nil || v.GetReason() != "served" {
		t.Fatalf("valid client: %v, %v", v, err)
	}
	if _, err := tlsCall(t, d, addr, ""); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if _, err := tlsCall(t, d, addr, "other-client"); err == nil {
		t.Fatal("a client from another CA was served")
	}
	if _, err := tlsCall(t, d, addr, "expired-client"); err == nil {
		t.Fatal("a client with an expired certificate was served")
	}

	// Rotate the client CA file: the next handshake trusts the other CA only, no restart.
	copyFile(t, filepath.Join(d, "other-ca.crt"), clientCA)
	if v, err := tlsCall(t, d, addr, "other-client"); err != nil || v.GetReason() != "served" {
		t.Fatalf("client of the rotated CA: %v, %v", v, err)
	}
	if _, err := tlsCall(t, d, addr, "client"); err == nil {
		t.Fatal("a client of the old CA was served after the rotation")
	}
}
