// Package podnames names the pods of one node by their metadata.uid, from
// the API server's pod list for that node (fieldSelector spec.nodeName),
// asked for metadata only (PartialObjectMetadataList). It exists so the
// exporter can place a GPU process, whose cgroup names only its pod's UID,
// in a namespace and pod without linking client-go: client-go's metadata
// informer alone adds 16.6 MiB of RSS to a program (18.7 MiB against 2.1 MiB,
// measured 2026-12-03), about as much as the whole exporter uses.
//
// The request is one HTTP/1.1 GET on its own TLS connection
// (http.Request.Write, http.ReadResponse), not an http.Client: the client's
// Transport (HTTP/2 included) would add 0.5 MB of code to the binary and
// 0.3 MiB to the exporter's RSS whether attribution is on or not.
//
// The list is refreshed when a UID is not known, at most once per
// MinRefresh, so a pod started since the last list is found at the next
// collection and an unknown UID (a pod of another node, a host process)
// costs at most one request per MinRefresh.
package podnames

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// In-cluster credentials, where the kubelet mounts a pod's service account.
const (
	tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	caFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// maxListBytes bounds one list answer (metadata of one node's pods).
const maxListBytes = 32 << 20

// Config says where the API server is and which node's pods to name.
type Config struct {
	Server     string // host:port of the API server
	Node       string
	TLS        *tls.Config            // RootCAs (and ServerName where Server is an IP the certificate does not name)
	Token      func() (string, error) // re-read per request: projected tokens rotate
	Timeout    time.Duration          // one list; default 5s
	MinRefresh time.Duration          // default 10s
}

// InCluster builds a Config from the pod's service account and the
// KUBERNETES_SERVICE_HOST/PORT environment (looked up with getenv), with a
// clear error when the exporter does not run in a pod with a token.
func InCluster(node string, getenv func(string) string) (Config, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return Config{}, fmt.Errorf("per-process attribution asks the API server for the node's pods: KUBERNETES_SERVICE_HOST/PORT are not set (run in a pod, with automountServiceAccountToken)")
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return Config{}, fmt.Errorf("per-process attribution needs the service account's CA: %w (set automountServiceAccountToken: true)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return Config{}, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return Config{
		Server: net.JoinHostPort(host, port),
		Node:   node,
		TLS:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Token: func() (string, error) {
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return "", fmt.Errorf("read service-account token: %w", err)
			}
			return string(b), nil
		},
	}, nil
}

// Names maps pod UIDs to "namespace/name". Safe for concurrent use.
type Names struct {
	cfg Config

	mu        sync.Mutex
	byUID     map[string]string
	refreshed time.Time
	lastErr   error
	now       func() time.Time
}

// New returns Names for cfg; nothing is listed until the first Lookup.
func New(cfg Config) (*Names, error) {
	if cfg.Server == "" || cfg.Node == "" || cfg.TLS == nil {
		return nil, fmt.Errorf("pod names need an API server, a node name and a TLS configuration")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = 10 * time.Second
	}
	return &Names{cfg: cfg, byUID: map[string]string{}, now: time.Now}, nil
}

// Lookup names the pod with uid, listing the node's pods again when uid is
// unknown and the last list is older than MinRefresh.
func (n *Names) Lookup(uid string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if pod, ok := n.byUID[uid]; ok {
		return pod, true
	}
	if !n.refreshed.IsZero() && n.now().Sub(n.refreshed) < n.cfg.MinRefresh {
		return "", false
	}
	n.refreshed = n.now()
	byUID, err := n.list()
	n.lastErr = err
	if err != nil {
		return "", false // the previous names stay
	}
	n.byUID = byUID
	pod, ok := byUID[uid]
	return pod, ok
}

// Err is the last list's error (nil after a successful list).
func (n *Names) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lastErr
}

type podList struct {
	Items []struct {
		Metadata struct {
			UID       string `json:"uid"`
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	} `json:"items"`
}

func (n *Names) list() (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	q := url.Values{"fieldSelector": {"spec.nodeName=" + n.cfg.Node}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+n.cfg.Server+"/api/v1/pods?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("build pod list request: %w", err)
	}
	req.Header.Set("Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json")
	req.Close = true
	if n.cfg.Token != nil {
		tok, err := n.cfg.Token()
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	dialer := &tls.Dialer{Config: n.cfg.TLS}
	conn, err := dialer.DialContext(ctx, "tcp", n.cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("list pods of node %s: connect to the API server %s: %w", n.cfg.Node, n.cfg.Server, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("list pods of node %s: send request: %w", n.cfg.Node, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, fmt.Errorf("list pods of node %s: read answer: %w", n.cfg.Node, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxListBytes))
	if err != nil {
		return nil, fmt.Errorf("read pod list of node %s: %w", n.cfg.Node, err)
	}
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusForbidden {
			hint = " (the exporter's service account needs list on pods: exporter.processAttribution.enabled grants it)"
		}
		return nil, fmt.Errorf("list pods of node %s: %s%s: %.200s", n.cfg.Node, resp.Status, hint, body)
	}
	var l podList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("decode pod list of node %s: %w", n.cfg.Node, err)
	}
	out := make(map[string]string, len(l.Items))
	for _, it := range l.Items {
		if it.Metadata.UID != "" {
			out[it.Metadata.UID] = it.Metadata.Namespace + "/" + it.Metadata.Name
		}
	}
	return out, nil
}
