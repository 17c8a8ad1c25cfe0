package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/medical-kg/gpu-autoscaling/internal/apiservice"
)

// ProcessStatus is one line of Status.
type ProcessStatus struct {
	Name    string  `json:"name"`
	PID     int     `json:"pid"`
	Running bool    `json:"running"`
	RSSMiB  float64 `json:"rssMiB"`
	Log     string  `json:"log"`
}

// Status is a snapshot of the sandbox's health.
type Status struct {
	Dir        string          `json:"dir"`
	Kubeconfig string          `json:"kubeconfig"`
	Server     string          `json:"server"`
	Prometheus string          `json:"prometheus"`
	APIReady   bool            `json:"apiReady"`
	APIError   string          `json:"apiError,omitempty"`
	ReadyNodes []string        `json:"readyNodes"`
	APIService map[string]bool `json:"apiServices"`
	Processes  []ProcessStatus `json:"processes"`
	// PodsMemoryMiB is the memory the real node's pods use in all (their
	// cgroups' usage less inactive page cache, as the kubelet counts it),
	// shims not included.
	PodsMemoryMiB float64 `json:"podsMemoryMiB,omitempty"`
	ColdStart     string  `json:"coldStart,omitempty"`
}

// TotalRSSMiB is the resident memory of the sandbox's processes and pods.
func (st Status) TotalRSSMiB() float64 {
	total := st.PodsMemoryMiB
	for _, p := range st.Processes {
		total += p.RSSMiB
	}
	return total
}

// Status reports each process and, when the API server answers, node
// readiness and APIService availability.
func (s *Sandbox) Status(ctx context.Context) Status {
	st := Status{Dir: s.opts.Dir, Kubeconfig: s.state.Kubeconfig, Server: s.state.Server,
		Prometheus: s.PrometheusURL(), APIService: map[string]bool{}, ColdStart: s.state.ColdStart}
	s.mu.Lock()
	for _, p := range s.procs {
		st.Processes = append(st.Processes, ProcessStatus{Name: p.Name, PID: p.PID, Running: !p.exited(), Log: p.Log,
			RSSMiB: rssMiB(p.PID)})
	}
	s.mu.Unlock()
	if n := s.state.Node; n != nil {
		st.PodsMemoryMiB = cgroupWorkingSetMiB(filepath.Join(cgroupMount, "memory", n.CgroupRoot, "kubepods"))
	}
	if s.rest == nil {
		st.APIError = "no kubeconfig"
		return st
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cfg := s.RESTConfig()
	cfg.Timeout = 3 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		st.APIError = err.Error()
		return st
	}
	if body, err := cs.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		st.APIError = err.Error()
		return st
	} else {
		st.APIReady = string(body) == "ok"
	}
	if nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		for i := range nodes.Items {
			if nodeReady(&nodes.Items[i]) {
				st.ReadyNodes = append(st.ReadyNodes, nodes.Items[i].Name)
			}
		}
	}
	if ac, err := aggregator.NewForConfig(cfg); err == nil {
		if list, err := ac.ApiregistrationV1().APIServices().List(ctx, metav1.ListOptions{}); err == nil {
			for _, svc := range list.Items {
				if svc.Spec.Service == nil {
					continue // local APIs are always served by kube-apiserver itself
				}
				cond := apiservice.AvailableCondition(&svc)
				st.APIService[svc.Name] = cond != nil && cond.Status == apiregv1.ConditionTrue
			}
		}
	}
	return st
}

// Render prints the status for a terminal.
func (st Status) Render(w io.Writer) error {
	fmt.Fprintf(w, "state:       %s\nkubeconfig:  %s\napi server:  %s (ready: %t)\nprometheus:  %s\n",
		st.Dir, st.Kubeconfig, st.Server, st.APIReady, st.Prometheus)
	if st.APIError != "" {
		fmt.Fprintf(w, "api error:   %s\n", st.APIError)
	}
	if st.ColdStart != "" {
		fmt.Fprintf(w, "cold start:  %s\n", st.ColdStart)
	}
	fmt.Fprintf(w, "ready nodes: %v\n", st.ReadyNodes)
	for name, ok := range st.APIService {
		fmt.Fprintf(w, "apiservice:  %s available=%t\n", name, ok)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS\tPID\tRUNNING\tRSS\tLOG")
	for _, p := range st.Processes {
		fmt.Fprintf(tw, "%s\t%d\t%t\t%.0f MiB\t%s\n", p.Name, p.PID, p.Running, p.RSSMiB, p.Log)
	}
	if st.PodsMemoryMiB > 0 {
		fmt.Fprintf(tw, "pods on the real node\t\t\t%.0f MiB\t\n", st.PodsMemoryMiB)
	}
	return tw.Flush()
}

// rssMiB reads a process' resident set size (0 when it is gone).
func rssMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// cgroupWorkingSetMiB is a v1 memory cgroup's usage less its inactive
// file pages (0 when it cannot be read).
func cgroupWorkingSetMiB(dir string) float64 {
	usage, err := os.ReadFile(filepath.Join(dir, "memory.usage_in_bytes"))
	if err != nil {
		return 0
	}
	u, _ := strconv.ParseFloat(strings.TrimSpace(string(usage)), 64)
	stat, _ := os.ReadFile(filepath.Join(dir, "memory.stat"))
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "total_inactive_file "); ok {
			inactive, _ := strconv.ParseFloat(v, 64)
			u -= inactive
		}
	}
	return max(0, u) / (1 << 20)
}
