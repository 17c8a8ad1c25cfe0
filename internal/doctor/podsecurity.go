package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
)

const idExporterPodSecurity = "exporter-pod-security"

// checkExporterPodSecurity reads the Pod Security labels of each namespace an
// exporter DaemonSet lives in. The exporter mounts hostPath volumes (and runs
// as root with pod-resources attribution), which the baseline and restricted
// levels reject: an enforcing namespace leaves every GPU node without an
// exporter, with nothing but FailedCreate events on the DaemonSet to say so.
func (r *runner) checkExporterPodSecurity(ctx context.Context, daemonSets []appsv1.DaemonSet) error {
	seen := map[string]bool{}
	var namespaces []string
	for _, ds := range daemonSets {
		if !seen[ds.Namespace] {
			seen[ds.Namespace] = true
			namespaces = append(namespaces, ds.Namespace)
		}
	}
	sort.Strings(namespaces)
	for _, name := range namespaces {
		ns, err := r.cfg.Kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsForbidden(err) {
			r.warn(idExporterPodSecurity, "namespace "+name, "cannot read the namespace's Pod Security labels: "+err.Error(),
				"run doctor with permission to get namespaces")
			continue
		}
		if err != nil {
			return fmt.Errorf("get namespace %s: %w", name, err)
		}
		enforce, ok := ns.Labels[psapi.EnforceLevelLabel]
		level, perr := psapi.ParseLevel(enforce)
		fix := fmt.Sprintf("kubectl label namespace %s %s=%s --overwrite (the exporter needs hostPath and root), "+
			"or move the exporter to a privileged namespace of its own: exporter.namespaceOverride=gpu-monitoring, "+
			"and keep this namespace restricted for the adapter and the GPU services", name, psapi.EnforceLevelLabel, psapi.LevelPrivileged)
		switch {
		case !ok:
			r.pass(idExporterPodSecurity, "namespace "+name, fmt.Sprintf("no %s label: the cluster's default level applies (privileged unless the API server's admission configuration says otherwise)", psapi.EnforceLevelLabel))
		case perr != nil:
			r.fail(idExporterPodSecurity, "namespace "+name, fmt.Sprintf("%s=%q is not a Pod Security level; the API server rejects pods there", psapi.EnforceLevelLabel, enforce), fix)
		case level != psapi.LevelPrivileged:
			r.fail(idExporterPodSecurity, "namespace "+name, fmt.Sprintf("enforces Pod Security %q, which rejects the exporter's pods (%s)", level, exporterViolations(level)), fix)
		default:
			var also []string
			for _, l := range []string{psapi.WarnLevelLabel, psapi.AuditLevelLabel} {
				if v := ns.Labels[l]; v != "" && v != string(psapi.LevelPrivileged) {
					also = append(also, l+"="+v)
				}
			}
			detail := fmt.Sprintf("%s=%s admits the exporter", psapi.EnforceLevelLabel, level)
			if len(also) > 0 {
				detail += "; " + strings.Join(also, ", ") + " only warn or audit"
			}
			r.pass(idExporterPodSecurity, "namespace "+name, detail)
		}
	}
	return nil
}

// exporterViolations names what of the exporter's pod spec a level forbids.
func exporterViolations(level psapi.Level) string {
	if level == psapi.LevelRestricted {
		return "hostPath volumes, runAsUser 0 for the root-owned pod-resources socket"
	}
	return "hostPath volumes"
}
