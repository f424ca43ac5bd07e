package smtpbridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSFiles are the three settings of mutual TLS, the same in every SDK: the certificate chain the
// worker presents, its private key, and the CA bundle client certificates must chain to.
type TLSFiles struct {
	Cert     string
	Key      string
	ClientCA string
}

// TLSConfig is a server tls.Config for these files that requires and verifies client
// certificates. The files are re-read when their modification time or size changes: each new
// handshake checks them (GetConfigForClient), open connections keep what they started with. A
// rotation that leaves a file unreadable or mismatched keeps the previous certificates.
func TLSConfig(files TLSFiles) (*tls.Config, error) {
	r := &tlsReloader{files: files}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: r.configForClient}, nil
}

type tlsReloader struct {
	files TLSFiles
	mu    sync.Mutex
	stamp [3]fileStamp
	cfg   *tls.Config
}

type fileStamp struct {
	mtime time.Time
	size  int64
}

func (r *tlsReloader) stat() ([3]fileStamp, error) {
	var s [3]fileStamp
	for i, path := range []string{r.files.Cert, r.files.Key, r.files.ClientCA} {
		fi, err := os.Stat(path)
		if err != nil {
			return s, err
		}
		s[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return s, nil
}

// load reads the files into a new config when they changed since the last load.
func (r *tlsReloader) load() (*tls.Config, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, err := r.stat()
	if err == nil && r.cfg != nil && stamp == r.stamp {
		return r.cfg, nil
	}
	if err != nil {
		return r.cfg, fmt.Errorf("smtpbridge: TLS files: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		return r.cfg, fmt.Errorf("smtpbridge: TLS certificate: %w", err)
	}
	pem, err := os.ReadFile(r.files.ClientCA)
	if err != nil {
		return r.cfg, fmt.Errorf("smtpbridge: TLS client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return r.cfg, errors.New("smtpbridge: TLS client CA: no PEM certificate in " + r.files.ClientCA)
	}
	r.cfg = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"h2"}, // gRPC's ALPN; this config is used as is for the connection
	}
	r.stamp = stamp
	return r.cfg, nil
}

func (r *tlsReloader) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	cfg, err := r.load()
	if cfg != nil {
		return cfg, nil // on a failed reload, keep serving the previous certificates
	}
	return nil, err
}
