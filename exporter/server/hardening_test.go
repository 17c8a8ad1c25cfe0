package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// countingListener counts the connections Serve took from it; Serve's
// connection limit sits above it, so the count is what the limit let in.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// serveOn runs Serve on lis until the test ends.
func serveOn(t *testing.T, cfg Config, lis net.Listener) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return logs
}

func loopback(t *testing.T) *countingListener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &countingListener{Listener: lis}
}

// rawRequest sends head (request line and headers, without the final empty
// line) and returns the status line of the answer.
func rawRequest(t *testing.T, addr, head string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { _, _ = io.WriteString(c, head+"\r\n\r\n") }()
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer to a %d-byte request: %v", len(head), err)
	}
	return strings.TrimSpace(status)
}

func TestOversizeHeadersGet431(t *testing.T) {
	lis := loopback(t)
	serveOn(t, Config{Gatherer: prometheus.NewRegistry(), Source: newFakeSource()}, lis)
	addr := lis.Addr().String()
	// A scrape's headers are far below the limit...
	if got := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", 8<<10)); got != "HTTP/1.1 200 OK" {
		t.Fatalf("8 KiB of headers: %q, want 200", got)
	}
	// ...a 64 KiB header is refused (Go's default limit is 1 MiB).
	if got := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", 64<<10)); !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Fatalf("64 KiB of headers: %q, want 431", got)
	}
}

func TestConnectionsBeyondTheLimitWait(t *testing.T) {
	lis := loopback(t)
	serveOn(t, Config{Gatherer: prometheus.NewRegistry(), Source: newFakeSource(), MaxConnections: 2}, lis)
	addr := lis.Addr().String()
	// Two connections that never finish their request hold both slots.
	var holders []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		holders = append(holders, c)
	}
	for lis.accepted.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// A third, complete request is not accepted while they are open.
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = third.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := third.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("a connection beyond the limit was answered (%d bytes, %v)", n, err)
	}
	if n := lis.accepted.Load(); n != 2 {
		t.Fatalf("%d connections accepted with a limit of 2", n)
	}
	// Once a slot frees, the waiting request is served.
	holders[0].Close()
	_ = third.SetReadDeadline(time.Time{})
	status, err := bufio.NewReader(third).ReadString('\n')
	if err != nil || strings.TrimSpace(status) != "HTTP/1.1 200 OK" {
		t.Fatalf("waiting request after a slot freed: %q, %v", status, err)
	}
}

// brokenCollector emits one good series and one error, as a collector with
// an invalid label value would.
type brokenCollector struct{ good, bad *prometheus.Desc }

func (b brokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- b.good; ch <- b.bad }
func (b brokenCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(b.good, prometheus.GaugeValue, 1)
	ch <- prometheus.NewInvalidMetric(b.bad, errSeriesBroken)
}

var errSeriesBroken = &net.AddrError{Err: "series broken", Addr: "test"}

func TestMetricsErrorsAreLoggedAndCounted(t *testing.T) {
	src := newFakeSource()
	reg := prometheus.NewRegistry()
	reg.MustRegister(brokenCollector{
		good: prometheus.NewDesc("test_good", "A series that gathers.", nil, nil),
		bad:  prometheus.NewDesc("test_bad", "A series that fails.", nil, nil),
	})
	logs := &syncBuffer{}
	srv, err := New(Config{Gatherer: reg, Registerer: reg, Source: src, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	// The series that could be gathered are served (ContinueOnError)...
	rec := request(srv, http.MethodGet, "/metrics")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "test_good 1") {
		t.Fatalf("/metrics = %d %q", rec.Code, rec.Body.String())
	}
	// ...the error is logged...
	if !strings.Contains(logs.String(), `msg="serving /metrics"`) || !strings.Contains(logs.String(), "series broken") {
		t.Fatalf("gather error not logged: %s", logs.String())
	}
	// ...and counted: the next rendering (after the next collection) shows it.
	src.collect()
	rec = request(srv, http.MethodGet, "/metrics")
	if !strings.Contains(rec.Body.String(), `promhttp_metric_handler_errors_total{cause="gathering"} 1`) {
		t.Fatalf("gather error not counted: %s", rec.Body.String())
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exporter"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestWebConfigServesTLSWithBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+
		"\nbasic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lis := loopback(t)
	serveOn(t, Config{Gatherer: prometheus.NewRegistry(), Source: newFakeSource(), WebConfigFile: webConfig}, lis)
	base := "https://" + lis.Addr().String()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path, user, password string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, user, password string
		want                 int
	}{
		{"/metrics", "", "", http.StatusUnauthorized},
		{"/metrics", "prometheus", "wrong", http.StatusUnauthorized},
		{"/metrics", "prometheus", "s3cret", http.StatusOK},
		{"/healthz", "", "", http.StatusUnauthorized}, // the toolkit guards every path
		{"/healthz", "prometheus", "s3cret", http.StatusOK},
	} {
		if got := get(c.path, c.user, c.password); got != c.want {
			t.Errorf("GET %s as %q/%q = %d, want %d", c.path, c.user, c.password, got, c.want)
		}
	}
	// Plain HTTP on the TLS port is refused.
	resp, err := http.Get("http://" + lis.Addr().String() + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port = %d, want 400", resp.StatusCode)
		}
	}
}
