package sandbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/medical-kg/gpu-autoscaling/internal/apiservice"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// apiServiceAvailable asks the aggregator about one APIService as admin.
func (s *Sandbox) apiServiceAvailable(ctx context.Context, name string) (bool, error) {
	agg, err := aggregator.NewForConfig(s.RESTConfig())
	if err != nil {
		return false, fmt.Errorf("aggregator client: %w", err)
	}
	return apiservice.Available(ctx, agg, name)
}

// readyCheck is one thing Up waits for: check says whether it is ready.
type readyCheck struct {
	what  string
	check func(context.Context) (bool, error)
}

func (s *Sandbox) waitReady(ctx context.Context, cs *kubernetes.Clientset, watch []*process) error {
	checks := []readyCheck{
		{"kube-controller-manager (default service account)", func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			return err == nil, err
		}},
		{"kube-scheduler /healthz", httpOK(fmt.Sprintf("https://127.0.0.1:%d/healthz", s.state.Ports.Scheduler))},
		{"GPU nodes Ready", func(ctx context.Context) (bool, error) {
			for _, n := range s.state.Nodes {
				if ok, err := nodeIsReady(cs, n)(ctx); !ok {
					return false, err
				}
			}
			return true, nil
		}},
		{"APIService " + contract.ResourceMetricsAPIService + " Available", func(ctx context.Context) (bool, error) {
			return s.apiServiceAvailable(ctx, contract.ResourceMetricsAPIService)
		}},
		{"Prometheus /-/ready", httpOK(s.PrometheusURL() + "/-/ready")},
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitFor(ctx, c.what, 200*time.Millisecond, watch, c.check)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// httpOK checks that url answers 200 (TLS not verified: these are liveness
// probes of local processes, not the paths under test).
func httpOK(url string) func(context.Context) (bool, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // local liveness probe
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s: %s", url, resp.Status)
		}
		return true, nil
	}
}

// nodeIsReady checks that a node reports Ready.
func nodeIsReady(cs kubernetes.Interface, name string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		node, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if !nodeReady(node) {
			return false, fmt.Errorf("node %s not Ready", name)
		}
		return true, nil
	}
}
