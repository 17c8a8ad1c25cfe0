package sandbox

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

func (s *Sandbox) metricsServerArgs() []string {
	kc := s.kubeconfigFor("metrics-server")
	// The real node's kubelet serves a certificate of the sandbox CA; kwok
	// serves a throwaway self-signed one.
	kubeletTLS := "--kubelet-certificate-authority=" + s.pki.Path("ca.crt")
	if len(s.state.KwokNodes) > 0 {
		kubeletTLS = "--kubelet-insecure-tls"
	}
	return []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", s.state.Ports.MetricsServer),
		"--tls-cert-file=" + s.pki.Path("serving.crt"),
		"--tls-private-key-file=" + s.pki.Path("serving.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-use-node-status-port",
		kubeletTLS,
		"--metric-resolution=" + s.opts.MetricResolution.String(),
		"--kubelet-request-timeout=5s",
	}
}

// registerMetricsServer exposes metrics-server as v1beta1.metrics.k8s.io
// through an ExternalName Service; the aggregator verifies its certificate
// against metrics-server.kube-system.svc with the sandbox CA.
func (s *Sandbox) registerMetricsServer(ctx context.Context, cs *kubernetes.Clientset) error {
	port := int32(s.state.Ports.MetricsServer)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-server", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
	if _, err := cs.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create metrics-server Service: %w", err)
	}
	ca, err := os.ReadFile(s.pki.Path("ca.crt"))
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	ac, err := aggregator.NewForConfig(s.RESTConfig())
	if err != nil {
		return fmt.Errorf("aggregator client: %w", err)
	}
	apisvc := &apiregv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: contract.ResourceMetricsAPIService},
		Spec: apiregv1.APIServiceSpec{
			Group:                "metrics.k8s.io",
			Version:              "v1beta1",
			Service:              &apiregv1.ServiceReference{Namespace: "kube-system", Name: "metrics-server", Port: &port},
			CABundle:             ca,
			GroupPriorityMinimum: 100,
			VersionPriority:      100,
		},
	}
	if _, err := ac.ApiregistrationV1().APIServices().Create(ctx, apisvc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create APIService %s: %w", contract.ResourceMetricsAPIService, err)
	}
	return nil
}
