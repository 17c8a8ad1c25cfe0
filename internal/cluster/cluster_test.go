package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func kubeconfigFor(t *testing.T, server string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
contexts: [{name: c, context: {cluster: c, user: u}}, {name: other, context: {cluster: c, user: u, namespace: team-a}}]
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
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "check --kubeconfig/--context") ||
		!strings.Contains(err.Error(), "no answer to GET /version within 300ms") {
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

func TestRequestTimeoutBoundsEveryRequest(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"gitVersion":"v1.36.3"}`)
			return
		}
		select { // every other request hangs
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	c, err := Connect(t.Context(), Options{Kubeconfig: kubeconfigFor(t, srv.URL), RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if c.REST.Timeout != 500*time.Millisecond {
		t.Errorf("rest.Config.Timeout = %s, want the RequestTimeout", c.REST.Timeout)
	}
	getterCfg, err := c.Getter.ToRESTConfig()
	if err != nil || getterCfg.Timeout != 500*time.Millisecond {
		t.Errorf("the Helm getter's rest.Config.Timeout = %v (%v), want the RequestTimeout", getterCfg, err)
	}
	start := time.Now()
	_, err = c.Kube.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	t.Logf("a hung list returned after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("a hung API server answered")
	}
}

func TestContextNamespace(t *testing.T) {
	kc := kubeconfigFor(t, "https://127.0.0.1:1")
	for _, tc := range []struct{ kubeconfig, context, want string }{
		{kc, "", ""}, {kc, "other", "team-a"}, {kc, "missing", ""}, {filepath.Join(t.TempDir(), "none"), "", ""},
	} {
		if got := ContextNamespace(tc.kubeconfig, tc.context); got != tc.want {
			t.Errorf("ContextNamespace(%s, %q) = %q, want %q", tc.kubeconfig, tc.context, got, tc.want)
		}
	}
}
