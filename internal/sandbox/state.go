package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func (s *Sandbox) saveState() error {
	s.mu.Lock()
	st := s.state
	st.Processes = nil
	for _, p := range s.procs {
		st.Processes = append(st.Processes, p.ProcessState)
	}
	s.mu.Unlock()
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := s.statePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, s.statePath()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// Load reads the state a previous Up left in dir, so that Status and Down
// work from another command. The processes are not children of this one.
func Load(dir string) (*Sandbox, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state folder %q: %w", dir, err)
	}
	data, err := os.ReadFile(filepath.Join(abs, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("no sandbox state in %s: %w", abs, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode %s/state.json: %w", abs, err)
	}
	s := &Sandbox{opts: Options{Dir: abs, Logf: func(string, ...any) {}}, state: st,
		pki: PKI{Dir: filepath.Join(abs, "pki")}}
	s.opts.KwokNodes = len(st.KwokNodes)
	for _, ps := range st.Processes {
		s.procs = append(s.procs, &process{ProcessState: ps})
	}
	if cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig); err == nil {
		s.rest = cfg
	}
	return s, nil
}

func (s *Sandbox) anyAlive() bool {
	for _, p := range s.procs {
		if !p.exited() {
			return true
		}
	}
	return false
}

// Down stops the sandbox and leaves the machine as it found it: the real
// node first (kubelet, every pod sandbox through the CRI, kube-proxy and its
// rules, containerd and any shim, mounts, cgroups, the fixed device-plugin
// and log paths), then every control-plane process in parallel, then the
// node's bridge; the cluster's data goes, the logs stay in <dir>/logs.
// Down works from another process (Load), and on a sandbox that failed
// half-way.
func (s *Sandbox) Down(ctx context.Context) error {
	var errs []error
	if s.state.Node != nil {
		errs = append(errs, s.stopNode(ctx))
	}
	s.mu.Lock()
	procs := append([]*process(nil), s.procs...)
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- stopAll(procs, 10*time.Second) }()
	select {
	case err := <-errc:
		errs = append(errs, err)
	case <-ctx.Done():
		return fmt.Errorf("stop sandbox: %w", ctx.Err())
	}
	s.mu.Lock()
	s.procs = nil
	s.mu.Unlock()
	// The bridge outlives the API server: it serves on the bridge's address
	// and hangs in its shutdown when the address goes first.
	if n := s.state.Node; n != nil && n.Bridge != "" {
		errs = append(errs, deleteBridge(n.Bridge))
	}
	for _, sub := range []string{"etcd", "pki", "prometheus", "config", "node", "kubeconfig", "state.json"} {
		if rmErr := os.RemoveAll(filepath.Join(s.opts.Dir, sub)); rmErr != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", sub, rmErr))
		}
	}
	return errors.Join(errs...)
}
