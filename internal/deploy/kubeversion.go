package deploy

import (
	"helm.sh/helm/v3/pkg/chartutil"
)

// OfflineKubeVersion returns the Kubernetes version a render without a cluster
// assumes: the one of the client-go in go.mod (v0.N.x is Kubernetes 1.N),
// the same the Makefile builds the pinned helm with (HELM_LDFLAGS), so the
// charts' kubeVersion is checked alike by `helm template` and by the deploy
// tool's plan, and not against the SDK's default, v1.20.
// TestOfflineKubeVersionFollowsClientGo keeps the three in step.
func OfflineKubeVersion() chartutil.KubeVersion {
	return chartutil.KubeVersion{Version: "v1.37.0", Major: "1", Minor: "37"}
}
