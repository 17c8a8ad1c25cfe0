package apiservice

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggfake "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/fake"
)

func TestAvailable(t *testing.T) {
	svc := func(name string, conds ...apiregv1.APIServiceCondition) *apiregv1.APIService {
		return &apiregv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: apiregv1.APIServiceStatus{Conditions: conds}}
	}
	agg := aggfake.NewSimpleClientset(
		svc("ok", apiregv1.APIServiceCondition{Type: apiregv1.Available, Status: apiregv1.ConditionTrue}),
		svc("down", apiregv1.APIServiceCondition{Type: apiregv1.Available, Status: apiregv1.ConditionFalse,
			Reason: "FailedDiscoveryCheck", Message: "connection refused"}),
		svc("new"),
	)
	ctx := context.Background()
	for name, want := range map[string]string{
		"ok":      "",
		"down":    "FailedDiscoveryCheck: connection refused",
		"new":     "no Available condition yet",
		"missing": "not found",
	} {
		ok, err := Available(ctx, agg, name)
		if want == "" {
			if !ok || err != nil {
				t.Errorf("%s: got %t, %v; want available", name, ok, err)
			}
			continue
		}
		if ok || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %t, %v; want an error containing %q", name, ok, err, want)
		}
	}
}
