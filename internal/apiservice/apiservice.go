// Package apiservice reads the availability of aggregated APIs (the
// custom.metrics.k8s.io APIServices the adapter serves, metrics-server's
// metrics.k8s.io): the one place that interprets an APIService's Available
// condition. It depends on the aggregator client only, so test binaries that
// also link go-nvml stay free of cli-runtime (whose kustomize plugin loader
// links with BIND_NOW, which breaks go-nvml's lazily resolved symbols).
package apiservice

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
)

// AvailableCondition returns an APIService's Available condition, or nil
// when the aggregator has not reported one yet.
func AvailableCondition(svc *apiregv1.APIService) *apiregv1.APIServiceCondition {
	for i := range svc.Status.Conditions {
		if svc.Status.Conditions[i].Type == apiregv1.Available {
			return &svc.Status.Conditions[i]
		}
	}
	return nil
}

// Available reports whether the named APIService has condition
// Available=True; otherwise the error carries the condition's reason and
// message (or why it could not be read).
func Available(ctx context.Context, agg aggregator.Interface, name string) (bool, error) {
	svc, err := agg.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("APIService %s: %w", name, err)
	}
	cond := AvailableCondition(svc)
	switch {
	case cond == nil:
		return false, fmt.Errorf("APIService %s has no Available condition yet", name)
	case cond.Status != apiregv1.ConditionTrue:
		return false, fmt.Errorf("APIService %s: %s: %s", name, cond.Reason, cond.Message)
	}
	return true, nil
}
