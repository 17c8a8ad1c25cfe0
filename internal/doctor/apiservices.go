package doctor

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/apiservice"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

const idAPIService = "apiservice-available"

// checkAPIServices: both custom.metrics.k8s.io versions registered and
// Available; metrics.k8s.io too when an HPA scales on cpu or memory.
func (r *runner) checkAPIServices(ctx context.Context) error {
	names := contract.CustomMetricsAPIServices()
	usesResource, err := r.hpasUseResourceMetrics(ctx)
	if err != nil {
		return err
	}
	if usesResource {
		names = append(names, contract.ResourceMetricsAPIService)
	}
	anyCustom := false
	for _, name := range names {
		svc, err := r.cfg.Aggregator.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			r.fail(idAPIService, name, "the APIService is not registered", missingAPIServiceFix(name, r.cfg))
			continue
		}
		if err != nil {
			r.fail(idAPIService, name, fmt.Sprintf("cannot read the APIService: %v", err),
				"grant this user get on apiservices.apiregistration.k8s.io, or run doctor as a cluster admin")
			continue
		}
		cond := apiservice.AvailableCondition(svc)
		switch {
		case cond == nil:
			r.warn(idAPIService, name, "the aggregator has not reported an Available condition yet",
				"wait a few seconds and run doctor again; if it stays, check kube-apiserver's aggregator logs")
		case cond.Status == apiregv1.ConditionTrue:
			r.pass(idAPIService, name, fmt.Sprintf("Available (service %s)", serviceRef(svc)))
			if name != contract.ResourceMetricsAPIService {
				anyCustom = true
			}
		default:
			r.fail(idAPIService, name, fmt.Sprintf("not Available: %s: %s", cond.Reason, cond.Message), unavailableFix(svc, cond, r.cfg))
		}
	}
	r.customAvailable = anyCustom
	return nil
}

func serviceRef(svc *apiregv1.APIService) string {
	if svc.Spec.Service == nil {
		return "local"
	}
	return svc.Spec.Service.Namespace + "/" + svc.Spec.Service.Name
}

func missingAPIServiceFix(name string, cfg Config) string {
	if name == contract.ResourceMetricsAPIService {
		return "an HPA scales on cpu/memory but metrics.k8s.io is not served: install metrics-server, or remove the Resource metrics from the HPAs"
	}
	return fmt.Sprintf("deploy the adapter: deploy-auto-scaling --action deploy --namespace %s --release %s (values adapter.enabled=true), "+
		"or in rules-only mode register %s for your existing prometheus-adapter", cfg.Namespace, cfg.Release, name)
}

func unavailableFix(svc *apiregv1.APIService, cond *apiregv1.APIServiceCondition, cfg Config) string {
	ref := serviceRef(svc)
	switch cond.Reason {
	case "ServiceNotFound":
		return fmt.Sprintf("the APIService points at Service %s, which does not exist: an APIService left behind by an uninstall breaks discovery cluster-wide; "+
			"redeploy the release or delete it: kubectl delete apiservice %s", ref, svc.Name)
	case "MissingEndpoints", "ServiceAccessError":
		return fmt.Sprintf("Service %s has no ready adapter endpoints: check kubectl -n %s get pods -l app.kubernetes.io/component=adapter and their logs", ref, cfg.Namespace)
	default:
		return fmt.Sprintf("the aggregator cannot reach the adapter behind %s (adapter down, TLS/caBundle mismatch or NetworkPolicy): "+
			"check kubectl -n %s get pods -l app.kubernetes.io/component=adapter, its logs, and that the caBundle matches the adapter's serving certificate", ref, cfg.Namespace)
	}
}

// hpasUseResourceMetrics reports whether any HPA in the namespace scales on cpu/memory.
func (r *runner) hpasUseResourceMetrics(ctx context.Context) (bool, error) {
	hpas, err := r.hpas(ctx)
	if err != nil {
		return false, err
	}
	for _, h := range hpas {
		for _, m := range h.Spec.Metrics {
			if m.Type == autoscalingv2.ResourceMetricSourceType || m.Type == autoscalingv2.ContainerResourceMetricSourceType {
				return true, nil
			}
		}
	}
	return false, nil
}

// hpas lists the namespace's HPAs (cached for the run).
func (r *runner) hpas(ctx context.Context) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
	if r.hpaCache != nil {
		return r.hpaCache, nil
	}
	list, err := r.cfg.Kube.AutoscalingV2().HorizontalPodAutoscalers(r.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list HPAs in %s: %w", r.cfg.Namespace, err)
	}
	r.hpaCache = list.Items
	if r.hpaCache == nil {
		r.hpaCache = []autoscalingv2.HorizontalPodAutoscaler{}
	}
	return r.hpaCache, nil
}
