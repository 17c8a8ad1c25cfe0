package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/apiservice"
	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
)

// Result is what Deploy did.
type Result struct {
	Release          *release.Release
	Installed        bool // false: an existing release was upgraded
	CreatedNamespace bool
	Objects          []Object
	// APIServices is the availability of the APIServices the release owns,
	// after waiting for them up to the remaining timeout (at most a minute).
	APIServices []APIServiceState
}

// APIServiceState is one APIService and its Available condition.
type APIServiceState struct {
	Name      string
	Available bool
	Reason    string
	Message   string
}

// ActionConfig initialises a Helm action configuration for namespace, storing
// releases in Secrets as the helm CLI does.
func ActionConfig(c *cluster.Clients, namespace string, log func(string, ...any)) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	if log == nil {
		log = discard
	}
	if err := cfg.Init(c.Getter, namespace, "secret", log); err != nil {
		return nil, fmt.Errorf("initialise helm for namespace %s: %w", namespace, err)
	}
	return cfg, nil
}

// Deploy installs the plan's release or upgrades it when it exists, waits for
// its workloads, and rolls back (or uninstalls a first install) on failure so
// nothing is left half-applied.
func Deploy(ctx context.Context, c *cluster.Clients, plan *Plan) (*Result, error) {
	cfg, err := ActionConfig(c, plan.Namespace, logger(plan.Options))
	if err != nil {
		return nil, err
	}
	return DeployWith(ctx, c, cfg, plan)
}

// DeployWith is Deploy with a given Helm action configuration (tests use
// Helm's fake kube client and in-memory release storage).
func DeployWith(ctx context.Context, c *cluster.Clients, cfg *action.Configuration, plan *Plan) (*Result, error) {
	start := time.Now()
	created, err := EnsureNamespace(ctx, c, plan.Namespace)
	if err != nil {
		return nil, err
	}
	hasHistory, exists, err := releaseState(cfg, plan.Release)
	if err != nil {
		return nil, err
	}
	var rel *release.Release
	if exists {
		up := action.NewUpgrade(cfg)
		up.Namespace = plan.Namespace
		up.Install = true
		up.Wait = true
		up.Atomic = true
		up.Timeout = plan.Timeout
		up.MaxHistory = 10
		rel, err = up.RunWithContext(ctx, plan.Release, plan.Chart, copyValues(plan.Values))
	} else {
		inst := action.NewInstall(cfg)
		inst.Namespace = plan.Namespace
		inst.ReleaseName = plan.Release
		// Revisions that failed or were uninstalled with --keep-history
		// leave nothing to upgrade from: install over them.
		inst.Replace = hasHistory
		inst.Wait = true
		inst.Atomic = true
		inst.Timeout = plan.Timeout
		rel, err = inst.RunWithContext(ctx, plan.Chart, copyValues(plan.Values))
	}
	if err != nil {
		if created && !exists {
			// The namespace was ours and the atomic install removed the release.
			_ = c.Kube.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), plan.Namespace, metav1.DeleteOptions{})
		}
		verb := "install"
		if exists {
			verb = "upgrade"
		}
		return nil, fmt.Errorf("%s release %s in %s (rolled back): %w", verb, plan.Release, plan.Namespace, err)
	}
	objects, err := ManifestObjects(rel.Manifest, plan.Namespace)
	if err != nil {
		return nil, fmt.Errorf("read the deployed manifest: %w", err)
	}
	res := &Result{Release: rel, Installed: !exists, CreatedNamespace: created, Objects: objects}
	if plan.APIServiceWait < 0 {
		res.APIServices = APIServiceStates(ctx, c, apiServiceNames(objects))
		return res, nil
	}
	apiWait := plan.APIServiceWait
	if apiWait == 0 {
		apiWait = min(plan.Timeout-time.Since(start), time.Minute)
	}
	res.APIServices = WaitAPIServices(ctx, c, objects, max(apiWait, time.Second))
	return res, nil
}

// EnsureNamespace creates ns when it does not exist and reports whether it did.
func EnsureNamespace(ctx context.Context, c *cluster.Clients, ns string) (bool, error) {
	_, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("read namespace %s: %w", ns, err)
	}
	_, err = c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return err == nil, nil
}

// releaseState reports whether the release has any stored revision and
// whether one of them is deployed (only then can Helm upgrade it).
func releaseState(cfg *action.Configuration, name string) (hasHistory, deployed bool, err error) {
	rels, err := cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err == nil && len(rels) == 0) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("read history of release %s: %w", name, err)
	}
	for _, r := range rels {
		if r.Info != nil && r.Info.Status == release.StatusDeployed {
			return true, true, nil
		}
	}
	return true, false, nil
}

// WaitAPIServices polls the APIServices among objects until all are Available
// or timeout passes, and returns their last state.
func WaitAPIServices(ctx context.Context, c *cluster.Clients, objects []Object, timeout time.Duration) []APIServiceState {
	names := apiServiceNames(objects)
	if len(names) == 0 {
		return nil
	}
	var states []APIServiceState
	poll := func(ctx context.Context) (bool, error) {
		states = APIServiceStates(ctx, c, names)
		for _, s := range states {
			if !s.Available {
				return false, nil
			}
		}
		return true, nil
	}
	_ = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, poll)
	return states
}

func apiServiceNames(objects []Object) []string {
	var names []string
	for _, o := range objects {
		if o.Kind == "APIService" {
			names = append(names, o.Name)
		}
	}
	return names
}

// APIServiceStates reads the Available condition of each named APIService.
func APIServiceStates(ctx context.Context, c *cluster.Clients, names []string) []APIServiceState {
	out := make([]APIServiceState, 0, len(names))
	for _, n := range names {
		st := APIServiceState{Name: n}
		svc, err := c.Aggregator.ApiregistrationV1().APIServices().Get(ctx, n, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			st.Reason, st.Message = "NotFound", "the APIService is not registered"
		case err != nil:
			st.Reason, st.Message = "Error", err.Error()
		default:
			if cond := apiservice.AvailableCondition(svc); cond != nil {
				st.Available = cond.Status == apiregv1.ConditionTrue
				st.Reason, st.Message = cond.Reason, cond.Message
			}
			if st.Reason == "" && !st.Available {
				st.Reason, st.Message = "NoCondition", "the aggregator has not reported availability yet"
			}
		}
		out = append(out, st)
	}
	return out
}

// Status returns the release as Helm stores it.
func Status(c *cluster.Clients, releaseName, namespace string) (*release.Release, error) {
	cfg, err := ActionConfig(c, namespace, nil)
	if err != nil {
		return nil, err
	}
	rel, err := action.NewStatus(cfg).Run(releaseName)
	if err != nil {
		return nil, fmt.Errorf("status of release %s in %s: %w", releaseName, namespace, err)
	}
	return rel, nil
}

// UndeployResult is what Undeploy removed and what it found left over.
type UndeployResult struct {
	// Found is false when there was no release to uninstall.
	Found bool
	Info  string
	// Leftovers are cluster-scoped objects still labelled or annotated for
	// the release after the uninstall.
	Leftovers []Object
}

// Undeploy uninstalls the release, waits for its objects to go, and lists any
// cluster-scoped object still attributed to it.
func Undeploy(ctx context.Context, c *cluster.Clients, releaseName, namespace string, timeout time.Duration) (*UndeployResult, error) {
	cfg, err := ActionConfig(c, namespace, nil)
	if err != nil {
		return nil, err
	}
	return UndeployWith(ctx, c, cfg, releaseName, namespace, timeout)
}

// UndeployWith is Undeploy with a given Helm action configuration.
func UndeployWith(ctx context.Context, c *cluster.Clients, cfg *action.Configuration, releaseName, namespace string, timeout time.Duration) (*UndeployResult, error) {
	un := action.NewUninstall(cfg)
	un.Wait = true
	un.Timeout = timeout
	un.DeletionPropagation = "foreground"
	un.IgnoreNotFound = true
	res := &UndeployResult{}
	resp, err := un.Run(releaseName)
	switch {
	case err == nil && resp == nil:
		res.Found = false // IgnoreNotFound: there was no release
	case err != nil:
		return nil, fmt.Errorf("uninstall release %s from %s: %w", releaseName, namespace, err)
	default:
		res.Found = true
		if resp != nil {
			res.Info = resp.Info
		}
	}
	// Deletion of cluster-scoped objects is asynchronous for some kinds; give
	// the API server a short while before calling anything a leftover.
	deadline := 30 * time.Second
	if timeout < deadline {
		deadline = timeout
	}
	var listErr error
	_ = wait.PollUntilContextTimeout(ctx, time.Second, deadline, true, func(ctx context.Context) (bool, error) {
		left, err := ClusterScopedLeftovers(ctx, c, releaseName, namespace)
		listErr = err
		if err != nil {
			return false, nil
		}
		res.Leftovers = left
		return len(left) == 0, nil
	})
	if listErr != nil {
		return nil, fmt.Errorf("check for cluster-scoped leftovers of %s: %w", releaseName, listErr)
	}
	return res, nil
}
