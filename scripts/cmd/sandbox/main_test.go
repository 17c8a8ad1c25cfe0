package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing command"},
		{[]string{"restart"}, `unknown command "restart"`},
		{[]string{"status", "--dir", dir}, "no sandbox state in " + dir},
		{[]string{"down", "--dir", dir}, "no sandbox state in " + dir},
		{[]string{"up", "--kwok-nodes", "-1", "--dir", dir}, "KwokNodes -1"},
	} {
		var out, errOut bytes.Buffer
		err := run(tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sandbox %v: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestUpStatusDown drives the command as a human would: up leaves the
// processes running, status (JSON) reports them, down stops them.
func TestUpStatusDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane; skipped with -short")
	}
	dir := filepath.Join(t.TempDir(), "state")
	if sb, err := sandbox.New(sandbox.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	} else if err := sb.Check(context.Background()); err != nil {
		prereq.SkipOrFail(t, err.Error())
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"up", "--dir", dir, "--hpa-sync-period", "5s"}, &out, &errOut); err != nil {
		t.Fatalf("up: %v\n%s", err, errOut.String())
	}
	defer func() { _ = run([]string{"down", "--dir", dir}, &bytes.Buffer{}, &bytes.Buffer{}) }()
	if !strings.Contains(out.String(), "export KUBECONFIG="+filepath.Join(dir, "kubeconfig")) {
		t.Errorf("up output does not say how to use the cluster:\n%s", out.String())
	}
	out.Reset()
	if err := run([]string{"status", "--dir", dir, "--json"}, &out, &errOut); err != nil {
		t.Fatalf("status: %v", err)
	}
	var st sandbox.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out.String())
	}
	// etcd, apiserver, kcm, scheduler, metrics-server, prometheus; the node's containerd, kubelet, kube-proxy.
	if !st.APIReady || len(st.ReadyNodes) != 1 || st.ReadyNodes[0] != sandbox.NodeName || len(st.Processes) != 9 {
		t.Errorf("status: ready %t, nodes %v, %d processes; want ready, node %s, 9 processes", st.APIReady, st.ReadyNodes, len(st.Processes), sandbox.NodeName)
	}
	for _, p := range st.Processes {
		if !p.Running {
			t.Errorf("%s (pid %d) not running after up", p.Name, p.PID)
		}
	}
	out.Reset()
	if err := run([]string{"down", "--dir", dir}, &out, &errOut); err != nil {
		t.Fatalf("down: %v", err)
	}
	if err := run([]string{"status", "--dir", dir}, &out, &errOut); err == nil {
		t.Error("status after down succeeded; want 'no sandbox state'")
	}
}
