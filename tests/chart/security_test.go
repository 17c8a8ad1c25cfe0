package chart_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// podTemplates returns every pod spec the rendered objects would create, by owner.
func podTemplates(objects []object) map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for _, o := range objects {
		switch w := o.obj.(type) {
		case *appsv1.Deployment:
			out["Deployment/"+w.Name] = w.Spec.Template
		case *appsv1.DaemonSet:
			out["DaemonSet/"+w.Name] = w.Spec.Template
		case *appsv1.StatefulSet:
			out["StatefulSet/"+w.Name] = w.Spec.Template
		case *corev1.Pod:
			out["Pod/"+w.Name] = corev1.PodTemplateSpec{ObjectMeta: w.ObjectMeta, Spec: w.Spec}
		}
	}
	return out
}

// needsRootForPodResources reports whether the pod mounts the kubelet pod-resources directory, the one
// documented reason to run as UID 0 (the socket is root-owned).
func needsRootForPodResources(spec corev1.PodSpec) bool {
	for _, v := range spec.Volumes {
		if v.HostPath != nil && v.HostPath.Path == "/var/lib/kubelet/pod-resources" {
			return true
		}
	}
	return false
}

func assertPodPosture(t *testing.T, owner string, tpl corev1.PodTemplateSpec) {
	t.Helper()
	spec := tpl.Spec
	psc := spec.SecurityContext
	assert.False(t, spec.HostNetwork, "%s: hostNetwork", owner)
	assert.False(t, spec.HostPID, "%s: hostPID", owner)
	assert.False(t, spec.HostIPC, "%s: hostIPC", owner)
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot

	hostPaths := map[string]string{} // volume name -> host path
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			assert.Contains(t, []string{"/var/lib/kubelet/pod-resources", "/proc"}, v.HostPath.Path,
				"%s: the only hostPaths allowed are the pod-resources socket directory and /proc", owner)
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	containers := append(slices.Clone(spec.InitContainers), spec.Containers...)
	assert.NotEmpty(t, containers, owner)
	for _, c := range containers {
		where := fmt.Sprintf("%s container %s", owner, c.Name)
		for _, m := range c.VolumeMounts {
			if p, ok := hostPaths[m.Name]; ok {
				assert.True(t, m.ReadOnly, "%s: hostPath %s mounted read-only", where, p)
			}
		}
		sc := c.SecurityContext
		if !assert.NotNil(t, sc, "%s: securityContext", where) {
			continue
		}
		assert.Equal(t, false, deref(sc.AllowPrivilegeEscalation, true), "%s: allowPrivilegeEscalation must be false", where)
		assert.Equal(t, true, deref(sc.ReadOnlyRootFilesystem, false), "%s: readOnlyRootFilesystem", where)
		assert.Equal(t, false, deref(sc.Privileged, false), "%s: privileged", where)
		if assert.NotNil(t, sc.Capabilities, "%s: capabilities", where) {
			assert.Contains(t, sc.Capabilities.Drop, corev1.Capability("ALL"), "%s: drop ALL", where)
			assert.Empty(t, sc.Capabilities.Add, "%s: no added capabilities", where)
		}
		seccomp := podSeccomp || (sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)
		assert.True(t, seccomp, "%s: seccomp RuntimeDefault", where)
		nonRoot := podNonRoot || deref(sc.RunAsNonRoot, false)
		if needsRootForPodResources(spec) {
			// The exporter: UID 0 for the root-owned socket only; everything else stays locked down.
			for _, m := range c.VolumeMounts {
				if m.MountPath == "/var/lib/kubelet/pod-resources" {
					assert.True(t, m.ReadOnly, "%s: pod-resources mounted read-only", where)
				}
			}
			assert.False(t, deref(spec.AutomountServiceAccountToken, true), "%s: no service-account token", where)
		} else {
			assert.True(t, nonRoot, "%s: runAsNonRoot", where)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			_, req := c.Resources.Requests[r]
			_, lim := c.Resources.Limits[r]
			assert.True(t, req, "%s: %s request", where, r)
			assert.True(t, lim, "%s: %s limit", where, r)
		}
		assert.NotNil(t, c.LivenessProbe, "%s: liveness probe", where)
		assert.NotNil(t, c.ReadinessProbe, "%s: readiness probe", where)
	}
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func TestPodSecurityPosture(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			pods := podTemplates(decodeAll(t, render(t, sc.req)))
			for owner, tpl := range pods {
				assertPodPosture(t, owner, tpl)
			}
		})
	}
	// charts/gpu-services: restricted stand-ins (probes and all), and the fake device plugin, which every
	// render here turns on.
	for _, sc := range gpuServicesScenarios(t) {
		t.Run("gpu-services/"+sc.name, func(t *testing.T) {
			t.Parallel()
			req := sc.req
			req.set = map[string]string{"devicePlugin.enabled": "true"}
			pods := podTemplates(decodeAll(t, render(t, req)))
			assert.Len(t, pods, 5, "four stand-ins and the device plugin")
			for owner, tpl := range pods {
				assert.False(t, deref(tpl.Spec.AutomountServiceAccountToken, true), "%s: no token", owner)
				if strings.HasPrefix(owner, "DaemonSet/") {
					assertDevicePluginPosture(t, owner, tpl)
					continue
				}
				assertPodPosture(t, owner, tpl)
				assert.Empty(t, hostPathsOf(tpl.Spec), "%s: a stand-in mounts nothing of the host", owner)
			}
		})
	}
}

func hostPathsOf(spec corev1.PodSpec) []string {
	var out []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			out = append(out, v.HostPath.Path)
		}
	}
	return out
}

// assertDevicePluginPosture: the fake device plugin runs as UID 0 because the kubelet's device-plugin
// folder and its registration socket are root-owned, and that is all it gets: no privilege escalation, no
// capabilities (the folder's owner needs none), a read-only root filesystem, RuntimeDefault seccomp, no
// host namespaces, no token, and of the host only the device-plugin folder (an existing Directory).
func assertDevicePluginPosture(t *testing.T, owner string, tpl corev1.PodTemplateSpec) {
	t.Helper()
	spec := tpl.Spec
	assert.False(t, spec.HostNetwork, "%s: hostNetwork", owner)
	assert.False(t, spec.HostPID, "%s: hostPID", owner)
	assert.False(t, spec.HostIPC, "%s: hostIPC", owner)
	psc := spec.SecurityContext
	if assert.NotNil(t, psc, "%s: pod securityContext", owner) {
		assert.EqualValues(t, 0, deref(psc.RunAsUser, -1), "%s: runAsUser 0 (root-owned socket folder)", owner)
		if assert.NotNil(t, psc.SeccompProfile, "%s: seccomp", owner) {
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type, "%s: seccomp RuntimeDefault", owner)
		}
	}
	require.Len(t, spec.Volumes, 1, "%s: one volume, the device-plugin folder", owner)
	v := spec.Volumes[0]
	require.NotNil(t, v.HostPath, "%s: volume %s is the hostPath", owner, v.Name)
	assert.Equal(t, devicePluginFolder, v.HostPath.Path, "%s: the only hostPath is the kubelet's device-plugin folder", owner)
	assert.Equal(t, corev1.HostPathDirectory, deref(v.HostPath.Type, ""), "%s: type Directory (never create it)", owner)
	require.Len(t, spec.Containers, 1, owner)
	assert.Empty(t, spec.InitContainers, owner)
	c := spec.Containers[0]
	where := owner + " container " + c.Name
	require.Len(t, c.VolumeMounts, 1, where)
	assert.Equal(t, v.Name, c.VolumeMounts[0].Name, where)
	assert.Equal(t, devicePluginFolder, c.VolumeMounts[0].MountPath, "%s: mounted at the same path", where)
	assert.False(t, c.VolumeMounts[0].ReadOnly, "%s: read-write: it creates its socket there", where)
	sc := c.SecurityContext
	if assert.NotNil(t, sc, "%s: securityContext", where) {
		assert.Equal(t, false, deref(sc.AllowPrivilegeEscalation, true), "%s: allowPrivilegeEscalation must be false", where)
		assert.Equal(t, false, deref(sc.Privileged, false), "%s: privileged", where)
		assert.Equal(t, true, deref(sc.ReadOnlyRootFilesystem, false), "%s: readOnlyRootFilesystem", where)
		assert.Nil(t, sc.RunAsUser, "%s: the user is the pod's", where)
		if assert.NotNil(t, sc.Capabilities, "%s: capabilities", where) {
			assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, "%s: drop ALL", where)
			assert.Empty(t, sc.Capabilities.Add, "%s: no added capabilities", where)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		_, req := c.Resources.Requests[r]
		_, lim := c.Resources.Limits[r]
		assert.True(t, req, "%s: %s request", where, r)
		assert.True(t, lim, "%s: %s limit", where, r)
	}
	assert.Empty(t, c.Ports, "%s: serves nothing on the network", where)
}

// Roles the chart binds to without creating them: Kubernetes' own, narrowly scoped ones.
var builtinRoles = map[string]bool{
	"ClusterRole/system:auth-delegator":              true,
	"Role/extension-apiserver-authentication-reader": true,
}

func TestRBACIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	for _, sc := range append(scenarios(t), scenario{name: "metrics-readers", req: renderRequest{values: `
adapter:
  rules:
    requestRate:
      enabled: true
  rbac:
    metricsReaders:
      enabled: true
      subjects:
        - kind: ServiceAccount
          name: doctor
          namespace: medical-kg
`}}) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			objects := decodeAll(t, render(t, sc.req))
			defined := map[string]bool{}
			check := func(kind, name string, rules []rbacv1.PolicyRule) {
				defined[kind+"/"+name] = true
				for i, r := range rules {
					where := fmt.Sprintf("%s %s rule %d", kind, name, i)
					for _, field := range [][]string{r.Verbs, r.Resources, r.APIGroups, r.ResourceNames, r.NonResourceURLs} {
						assert.NotContains(t, field, "*", "%s: wildcard", where)
					}
					assert.NotContains(t, r.Resources, "secrets", "%s: the chart never reads secrets", where)
					for _, v := range r.Verbs {
						assert.Contains(t, []string{"get", "list", "watch"}, v, "%s: write verb %s", where, v)
					}
				}
			}
			for _, r := range typedOf[*rbacv1.ClusterRole](objects) {
				assert.Nil(t, r.AggregationRule, "ClusterRole %s: aggregation pulls in unknown rules", r.Name)
				check("ClusterRole", r.Name, r.Rules)
			}
			for _, r := range typedOf[*rbacv1.Role](objects) {
				check("Role", r.Name, r.Rules)
			}
			for _, b := range typedOf[*rbacv1.ClusterRoleBinding](objects) {
				ref := b.RoleRef.Kind + "/" + b.RoleRef.Name
				assert.True(t, defined[ref] || builtinRoles[ref], "ClusterRoleBinding %s binds %s", b.Name, ref)
				assert.NotEqual(t, "cluster-admin", b.RoleRef.Name)
			}
			for _, b := range typedOf[*rbacv1.RoleBinding](objects) {
				ref := b.RoleRef.Kind + "/" + b.RoleRef.Name
				assert.True(t, defined[ref] || builtinRoles[ref], "RoleBinding %s binds %s", b.Name, ref)
			}
		})
	}
}

func TestSelectorsAreNameAndInstanceOnly(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{valuesFiles: []string{"values/production.yaml"}}))
	for _, o := range objects {
		var sel map[string]string
		var podLabels map[string]string
		switch w := o.obj.(type) {
		case *appsv1.Deployment:
			sel, podLabels = w.Spec.Selector.MatchLabels, w.Spec.Template.Labels
		case *appsv1.DaemonSet:
			sel, podLabels = w.Spec.Selector.MatchLabels, w.Spec.Template.Labels
		default:
			continue
		}
		assert.Len(t, sel, 2, "%s %s selector", o.kind, o.name)
		assert.Equal(t, releaseName, sel["app.kubernetes.io/instance"], o.name)
		assert.NotEmpty(t, sel["app.kubernetes.io/name"], o.name)
		for k, v := range sel {
			assert.Equal(t, v, podLabels[k], "%s: pod template carries selector label %s", o.name, k)
		}
	}
}
