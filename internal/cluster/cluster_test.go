package cluster

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func kubeconfigFor(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: c, user: u}}, {name: other, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: t}}]
current-context: c
`, server)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConnectReadsServerVersion(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer t" {
			t.Errorf("kubeconfig credentials not used: %q", r.Header.Get("Authorization"))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"36","gitVersion":"v1.36.3"}`)
	}))
	defer srv.Close()
	c, err := Connect(t.Context(), Options{Kubeconfig: kubeconfigFor(t, srv.URL), Context: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerVersion != "v1.36.3" || c.REST.Host != srv.URL || c.Kube == nil || c.Aggregator == nil || c.CustomMetrics == nil || c.Getter == nil {
		t.Errorf("clients = %+v", c)
	}
}

func TestConnectUnreachable(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	start := time.Now()
	_, err := Connect(t.Context(), Options{Kubeconfig: kubeconfigFor(t, srv.URL), ReachTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "check --kubeconfig/--context") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the reachability probe ignored ReachTimeout")
	}
	_, err = Connect(t.Context(), Options{Kubeconfig: kubeconfigFor(t, srv.URL), Context: "missing"})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), `context "missing"`) {
		t.Errorf("unknown context: %v", err)
	}
}
