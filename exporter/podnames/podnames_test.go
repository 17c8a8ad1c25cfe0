package podnames

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// apiServer answers the node's pod list with the pods in *pods (uid → name
// in namespace ml) or with status when it is not 200.
func apiServer(t *testing.T, pods *atomic.Pointer[map[string]string], status *atomic.Int32, lists *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lists.Add(1)
		if r.URL.Path != "/api/v1/pods" || r.URL.Query().Get("fieldSelector") != "spec.nodeName=gpu-node-0" {
			t.Errorf("unexpected request %s", r.URL)
		}
		if r.Header.Get("Authorization") != "Bearer tok" || !strings.Contains(r.Header.Get("Accept"), "PartialObjectMetadataList") {
			t.Errorf("request headers %v: want the bearer token and a metadata-only list", r.Header)
		}
		if s := status.Load(); s != http.StatusOK {
			http.Error(w, `{"kind":"Status","reason":"Forbidden"}`, int(s))
			return
		}
		var items []string
		for uid, name := range *pods.Load() {
			items = append(items, fmt.Sprintf(`{"metadata":{"uid":%q,"name":%q,"namespace":"ml"}}`, uid, name))
		}
		fmt.Fprintf(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","items":[%s]}`, strings.Join(items, ","))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// tlsFor trusts the test server's certificate as InCluster trusts the
// service account's CA.
func tlsFor(srv *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{RootCAs: pool, ServerName: "example.com"}
}

// fixture is Names against apiServer, on a clock the test moves (now),
// serving uid-a as ml/embedding-0 until the test changes pods or status.
type fixture struct {
	pods          atomic.Pointer[map[string]string]
	status, lists atomic.Int32
	now           time.Time
	names         *Names
}

func newFixture(t *testing.T, minRefresh time.Duration) *fixture {
	t.Helper()
	f := &fixture{now: time.Unix(1000, 0)}
	f.status.Store(http.StatusOK)
	f.pods.Store(&map[string]string{"uid-a": "embedding-0"})
	srv := apiServer(t, &f.pods, &f.status, &f.lists)
	n, err := New(Config{Server: srv.Listener.Addr().String(), Node: "gpu-node-0", TLS: tlsFor(srv), MinRefresh: minRefresh,
		Token: func() (string, error) { return "tok", nil }})
	if err != nil {
		t.Fatal(err)
	}
	n.now = func() time.Time { return f.now }
	f.names = n
	return f
}

func TestLookupListsOnMissAtMostOncePerMinRefresh(t *testing.T) {
	f := newFixture(t, time.Minute)
	pods, lists, n := &f.pods, &f.lists, f.names

	if pod, ok := n.Lookup("uid-a"); !ok || pod != "ml/embedding-0" {
		t.Fatalf("Lookup(uid-a) = %q, %v; want ml/embedding-0", pod, ok)
	}
	pods.Store(&map[string]string{"uid-a": "embedding-0", "uid-b": "reranking-0"})
	if _, ok := n.Lookup("uid-b"); ok {
		t.Fatal("uid-b found before MinRefresh passed: the list was asked again too soon")
	}
	if got := lists.Load(); got != 1 {
		t.Fatalf("%d lists, want 1", got)
	}
	f.now = f.now.Add(time.Minute)
	if pod, ok := n.Lookup("uid-b"); !ok || pod != "ml/reranking-0" {
		t.Fatalf("Lookup(uid-b) after MinRefresh = %q, %v; want ml/reranking-0", pod, ok)
	}
	if _, ok := n.Lookup("uid-a"); !ok || lists.Load() != 2 {
		t.Fatalf("a known UID must not list again (lists %d)", lists.Load())
	}
}

func TestForbiddenListSaysWhatToGrantAndKeepsNames(t *testing.T) {
	f := newFixture(t, time.Second)
	status, n := &f.status, f.names
	n.Lookup("uid-a")
	status.Store(http.StatusForbidden)
	f.now = f.now.Add(time.Second)
	if _, ok := n.Lookup("uid-x"); ok {
		t.Fatal("unknown UID found")
	}
	if err := n.Err(); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "list on pods") {
		t.Fatalf("Err() = %v; want the 403 and what to grant", err)
	}
	if pod, ok := n.Lookup("uid-a"); !ok || pod != "ml/embedding-0" {
		t.Fatalf("names from the last good list lost after a failed one: %q, %v", pod, ok)
	}
}

func TestInClusterOutsideAPodSaysWhy(t *testing.T) {
	if _, err := InCluster("gpu-node-0", func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "KUBERNETES_SERVICE_HOST") {
		t.Fatalf("InCluster outside a pod: %v", err)
	}
}
