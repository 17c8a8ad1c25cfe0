package chart_test

import (
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
)

const (
	adapterName  = "gpu-autoscaling-custom-metrics-adapter"
	exporterName = "gpu-autoscaling-gpu-metrics-exporter"
)

func one[T any](t *testing.T, items []T, what string) T {
	t.Helper()
	require.Len(t, items, 1, what)
	return items[0]
}

func argValue(args []string, flag string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

func parseCert(t *testing.T, data []byte, what string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	require.NotNil(t, block, "%s is not PEM", what)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err, what)
	return cert
}

func TestAdapterServesBothAPIServicesWithTheChartCA(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{valuesFiles: []string{"values/production.yaml"}, set: map[string]string{"adapter.prometheus.url": "http://prom.example:9090/prefix"}}))

	var secret *corev1.Secret
	for _, s := range typedOf[*corev1.Secret](objects) {
		if s.Name == adapterName+"-tls" {
			secret = s
		}
	}
	require.NotNil(t, secret, "TLS secret")
	assert.Equal(t, corev1.SecretTypeTLS, secret.Type)
	ca := parseCert(t, secret.Data["ca.crt"], "ca.crt")
	leaf := parseCert(t, secret.Data["tls.crt"], "tls.crt")
	assert.True(t, ca.IsCA)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	// The aggregator verifies <service>.<namespace>.svc, also through an ExternalName Service.
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: adapterName + ".medical-kg.svc", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	require.NoError(t, err, "serving certificate must verify against the chart CA for the service DNS name")

	svc := one(t, filterName(typedOf[*corev1.Service](objects), adapterName), "adapter Service")
	apis := typedOf[*apiregistrationv1.APIService](objects)
	require.Len(t, apis, 2)
	versions := []string{}
	for _, a := range apis {
		versions = append(versions, a.Spec.Version)
		assert.Equal(t, a.Spec.Version+".custom.metrics.k8s.io", a.Name)
		assert.Equal(t, "custom.metrics.k8s.io", a.Spec.Group)
		assert.False(t, a.Spec.InsecureSkipTLSVerify, "%s: TLS verified", a.Name)
		assert.Equal(t, secret.Data["ca.crt"], a.Spec.CABundle, "%s: caBundle is the chart CA", a.Name)
		require.NotNil(t, a.Spec.Service)
		assert.Equal(t, svc.Name, a.Spec.Service.Name)
		assert.Equal(t, namespace, a.Spec.Service.Namespace)
		assert.Equal(t, svc.Spec.Ports[0].Port, *a.Spec.Service.Port)
	}
	assert.ElementsMatch(t, []string{"v1beta1", "v1beta2"}, versions)

	dep := one(t, typedOf[*appsv1.Deployment](objects), "adapter Deployment")
	assert.EqualValues(t, 2, *dep.Spec.Replicas)
	c := dep.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0", c.Image)
	for flag, want := range map[string]string{
		"--secure-port":          "6443",
		"--tls-cert-file":        "/var/run/serving-cert/tls.crt",
		"--tls-private-key-file": "/var/run/serving-cert/tls.key",
		"--config":               "/etc/adapter/config.yaml",
		"--prometheus-url":       "http://prom.example:9090/prefix",
	} {
		got, ok := argValue(c.Args, flag)
		assert.True(t, ok, "adapter arg %s missing", flag)
		assert.Equal(t, want, got, "adapter arg %s", flag)
	}
	assert.Equal(t, int32(6443), c.Ports[0].ContainerPort)
	vols := map[string]corev1.Volume{}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	assert.Equal(t, secret.Name, vols["serving-cert"].Secret.SecretName)
	cmName := vols["config"].ConfigMap.Name
	var cm *corev1.ConfigMap
	for _, x := range typedOf[*corev1.ConfigMap](objects) {
		if x.Name == cmName {
			cm = x
		}
	}
	require.NotNil(t, cm, "the Deployment mounts ConfigMap %s, which is rendered", cmName)
	assert.Contains(t, cm.Data, "config.yaml")
	assert.Equal(t, "HTTPS", string(c.LivenessProbe.HTTPGet.Scheme))
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)

	pdb := one(t, typedOf[*policyv1.PodDisruptionBudget](objects), "adapter PDB")
	sel, err := metav1LabelSelector(pdb.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(dep.Spec.Template.Labels)), "PDB selects the adapter pods")
	assert.Equal(t, 1, pdb.Spec.MinAvailable.IntValue())
}

func filterName[T interface{ GetName() string }](items []T, name string) []T {
	var out []T
	for _, i := range items {
		if i.GetName() == name {
			out = append(out, i)
		}
	}
	return out
}

// TestSandboxValues: values/sandbox.yaml for the sandbox's real node. The adapter runs as a pod behind its
// ClusterIP Service, the exporter simulates the node's 24 GPUs, nothing tolerates kwok, the sandbox's own
// addresses come in through --set, and the HPA windows are the compressed ones the e2e checks rely on.
func TestSandboxValues(t *testing.T) {
	t.Parallel()
	const podResources = "/tmp/sandbox/kubelet/pod-resources"
	objects := decodeAll(t, render(t, renderRequest{valuesFiles: []string{"values/sandbox.yaml"}, set: map[string]string{
		"adapter.prometheus.url":         "http://10.88.0.1:39090",
		"exporter.podResources.hostPath": podResources,
	}}))
	svc := one(t, filterName(typedOf[*corev1.Service](objects), adapterName), "adapter Service")
	assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type, "the adapter is a pod behind its Service")
	assert.Empty(t, svc.Spec.ExternalName)
	require.Len(t, svc.Spec.Ports, 1)
	assert.EqualValues(t, 443, svc.Spec.Ports[0].Port)
	assert.Equal(t, "https", svc.Spec.Ports[0].TargetPort.String())
	dep := one(t, typedOf[*appsv1.Deployment](objects), "adapter Deployment")
	assert.EqualValues(t, 1, *dep.Spec.Replicas)
	sel, err := metav1LabelSelector(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(dep.Spec.Template.Labels)), "the Service selects the adapter pods")
	c := dep.Spec.Template.Spec.Containers[0]
	for flag, want := range map[string]string{"--secure-port": "6443", "--prometheus-url": "http://10.88.0.1:39090", "--metrics-relist-interval": "10s"} {
		got, _ := argValue(c.Args, flag)
		assert.Equal(t, want, got, "adapter %s", flag)
	}
	for _, a := range typedOf[*apiregistrationv1.APIService](objects) {
		assert.EqualValues(t, 443, *a.Spec.Service.Port, a.Name)
		assert.Equal(t, svc.Name, a.Spec.Service.Name, a.Name)
		assert.NotEmpty(t, a.Spec.CABundle, a.Name)
		assert.False(t, a.Spec.InsecureSkipTLSVerify, a.Name)
	}

	ds := one(t, typedOf[*appsv1.DaemonSet](objects), "exporter DaemonSet")
	ec := ds.Spec.Template.Spec.Containers[0]
	for flag, want := range map[string]string{
		"--backend": "simulated", "--simulation-model": "dgxa100", "--simulation-gpus": "24",
		"--collection-interval": "5s", "--pod-resources-socket": podResources + "/kubelet.sock",
	} {
		got, _ := argValue(ec.Args, flag)
		assert.Equal(t, want, got, "exporter %s", flag)
	}
	var hostPath string
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.Name == "pod-resources" && v.HostPath != nil {
			hostPath = v.HostPath.Path
		}
	}
	assert.Equal(t, podResources, hostPath, "the pod-resources hostPath follows the kubelet's --root-dir")

	// No operator CRDs in the sandbox.
	assert.Empty(t, byKind(objects, "ServiceMonitor"))
	assert.Empty(t, byKind(objects, "PrometheusRule"))
	// Real node: no kwok taint to tolerate; its one node is a GPU node that may carry nvidia.com/gpu.
	for owner, tpl := range podTemplates(objects) {
		assert.False(t, slices.ContainsFunc(tpl.Spec.Tolerations, func(tol corev1.Toleration) bool {
			return tol.Key == "kwok.x-k8s.io/node"
		}), "%s: no kwok toleration", owner)
		assert.True(t, slices.ContainsFunc(tpl.Spec.Tolerations, func(tol corev1.Toleration) bool {
			return tol.Key == "nvidia.com/gpu" && tol.Operator == corev1.TolerationOpExists
		}), "%s tolerates nvidia.com/gpu", owner)
	}
	// The compressed windows and periods, exactly: the e2e suite's rate-policy checks depend on them.
	up := []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}, {Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 15}}
	down := []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 15}}
	hpas := typedOf[*hpaV2](objects)
	assert.Len(t, hpas, 4)
	for _, h := range hpas {
		assert.EqualValues(t, 10, *h.Spec.Behavior.ScaleUp.StabilizationWindowSeconds, h.Name)
		assert.EqualValues(t, 30, *h.Spec.Behavior.ScaleDown.StabilizationWindowSeconds, h.Name)
		assert.Equal(t, up, h.Spec.Behavior.ScaleUp.Policies, h.Name)
		assert.Equal(t, down, h.Spec.Behavior.ScaleDown.Policies, h.Name)
	}
}

// TestAdapterExternalName: an adapter running outside the pod network (a host process) is reached through
// an ExternalName Service on its own port, with the chart's caBundle as usual.
func TestAdapterExternalName(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{valuesFiles: []string{"values/sandbox.yaml"}, set: map[string]string{
		"adapter.securePort": "7443", "adapter.service.port": "7443", "adapter.service.externalName": "localhost",
	}}))
	svc := one(t, filterName(typedOf[*corev1.Service](objects), adapterName), "adapter Service")
	assert.Equal(t, corev1.ServiceTypeExternalName, svc.Spec.Type)
	assert.Equal(t, "localhost", svc.Spec.ExternalName)
	assert.Empty(t, svc.Spec.Selector)
	dep := one(t, typedOf[*appsv1.Deployment](objects), "adapter Deployment")
	port, _ := argValue(dep.Spec.Template.Spec.Containers[0].Args, "--secure-port")
	assert.Equal(t, "7443", port, "the aggregator dials localhost:<service port>, where the adapter process listens")
	for _, a := range typedOf[*apiregistrationv1.APIService](objects) {
		assert.EqualValues(t, 7443, *a.Spec.Service.Port, a.Name)
		assert.NotEmpty(t, a.Spec.CABundle, a.Name)
	}
}

func TestAdapterWithCertManager(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{set: map[string]string{"adapter.tls.source": "certManager"}}))
	for _, s := range typedOf[*corev1.Secret](objects) {
		assert.NotEqual(t, adapterName+"-tls", s.Name, "cert-manager owns the serving Secret")
	}
	var cert *unstructured.Unstructured
	for _, o := range byKind(objects, "Certificate") {
		if o.name == adapterName {
			cert = o.obj.(*unstructured.Unstructured)
		}
	}
	require.NotNil(t, cert, "serving Certificate")
	dns, _, err := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	require.NoError(t, err)
	assert.Contains(t, dns, adapterName+".medical-kg.svc")
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	assert.Equal(t, adapterName+"-tls", secretName)
	assert.Len(t, byKind(objects, "Issuer"), 2, "self-signed issuer and CA issuer when no issuerRef is given")
	for _, a := range typedOf[*apiregistrationv1.APIService](objects) {
		assert.Empty(t, a.Spec.CABundle, a.Name)
		assert.False(t, a.Spec.InsecureSkipTLSVerify, a.Name)
		assert.Equal(t, "medical-kg/"+adapterName, a.Annotations["cert-manager.io/inject-ca-from"], a.Name)
	}
}

func TestRulesOnlyModeRendersOnlyTheRules(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{valuesFiles: []string{"values/rules-only.yaml"}}))
	var adapterObjects []object
	for _, o := range objects {
		if o.labels["app.kubernetes.io/component"] == "adapter" {
			adapterObjects = append(adapterObjects, o)
		}
	}
	require.Len(t, adapterObjects, 1, "rules-only renders the rules ConfigMap and nothing else of the adapter")
	cm := adapterObjects[0]
	assert.Equal(t, "ConfigMap", cm.kind)
	assert.Equal(t, "gpu-autoscaling-adapter-rules", cm.name)
	assert.Equal(t, "monitoring", cm.ns)
	assert.Empty(t, typedOf[*apiregistrationv1.APIService](objects), "an existing adapter owns the APIService")
	rules, ok := adapterRules(t, objects)
	require.True(t, ok)
	assert.NotEmpty(t, rules)
}

func TestExporterDaemonSet(t *testing.T) {
	t.Parallel()
	t.Run("production", func(t *testing.T) {
		t.Parallel()
		objects := decodeAll(t, render(t, renderRequest{valuesFiles: []string{"values/production.yaml"}, extraArgs: monitoringAPIs}))
		ds := one(t, typedOf[*appsv1.DaemonSet](objects), "exporter DaemonSet")
		spec := ds.Spec.Template.Spec
		assert.Empty(t, spec.NodeSelector, "GPU nodes are chosen by the node affinity (exporter.gpuNodeAffinity)")
		assert.True(t, slices.ContainsFunc(spec.Tolerations, func(tol corev1.Toleration) bool { return tol.Key == "nvidia.com/gpu" }))
		assert.Equal(t, "system-node-critical", spec.PriorityClassName)
		assert.False(t, *spec.AutomountServiceAccountToken)
		c := spec.Containers[0]
		for flag, want := range map[string]string{
			"--web.listen-address":    ":9400",
			"--backend":               "nvml",
			"--collection-interval":   "30s",
			"--pod-resources-socket":  "/var/lib/kubelet/pod-resources/kubelet.sock",
			"--pod-resources-timeout": "2s",
			"--proc-path":             "/proc",
			"--log-level":             "info",
		} {
			got, ok := argValue(c.Args, flag)
			assert.True(t, ok, "exporter arg %s", flag)
			assert.Equal(t, want, got, "exporter arg %s", flag)
		}
		var nodeName *corev1.EnvVar
		for i := range c.Env {
			if c.Env[i].Name == "NODE_NAME" {
				nodeName = &c.Env[i]
			}
		}
		require.NotNil(t, nodeName, "NODE_NAME env")
		assert.Equal(t, "spec.nodeName", nodeName.ValueFrom.FieldRef.FieldPath)
		assert.Equal(t, "gpu-metrics-exporter", ds.Spec.Template.Labels["app"], "seed: kubectl logs -l app=gpu-metrics-exporter")
		assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
		assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)

		sm := one(t, byKind(objects, "ServiceMonitor"), "ServiceMonitor").obj.(*unstructured.Unstructured)
		eps, _, err := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		require.NoError(t, err)
		require.Len(t, eps, 1)
		assert.Equal(t, true, eps[0].(map[string]any)["honorLabels"], "honorLabels keeps the workload's pod labels")
		assert.NotContains(t, ds.Spec.Template.Annotations, "prometheus.io/scrape", "no scrape annotations next to a ServiceMonitor")
		one(t, filterName(typedOf[*corev1.Service](objects), exporterName), "exporter Service")
	})
	t.Run("serviceMonitor wanted but no CRD: scrape annotations instead", func(t *testing.T) {
		t.Parallel()
		objects := decodeAll(t, render(t, renderRequest{valuesFiles: []string{"values/production.yaml"}}))
		assert.Empty(t, byKind(objects, "ServiceMonitor"))
		ds := one(t, typedOf[*appsv1.DaemonSet](objects), "exporter DaemonSet")
		assert.Equal(t, "true", ds.Spec.Template.Annotations["prometheus.io/scrape"])
		assert.Equal(t, "9400", ds.Spec.Template.Annotations["prometheus.io/port"])
		svc := one(t, filterName(typedOf[*corev1.Service](objects), exporterName), "exporter Service")
		assert.NotContains(t, svc.Annotations, "prometheus.io/scrape",
			"only the pods are annotated: a pods job plus a service-endpoints job would scrape every exporter twice and double summed GPU memory")
	})
	t.Run("attribution off, host proc on", func(t *testing.T) {
		t.Parallel()
		objects := decodeAll(t, render(t, renderRequest{values: "exporter:\n  hostProc:\n    enabled: true\n  podResources:\n    enabled: false\n"}))
		ds := one(t, typedOf[*appsv1.DaemonSet](objects), "exporter DaemonSet")
		c := ds.Spec.Template.Spec.Containers[0]
		socket, ok := argValue(c.Args, "--pod-resources-socket")
		assert.True(t, ok)
		assert.Empty(t, socket, "an empty socket flag disables attribution in the exporter")
		proc, _ := argValue(c.Args, "--proc-path")
		assert.Equal(t, "/host/proc", proc)
		for _, v := range ds.Spec.Template.Spec.Volumes {
			assert.NotEqual(t, "pod-resources", v.Name, "no socket mount without attribution")
		}
	})
	t.Run("per-process attribution: flag, token, host proc and list on pods only", func(t *testing.T) {
		t.Parallel()
		objects := decodeAll(t, render(t, renderRequest{values: "exporter:\n  hostProc:\n    enabled: true\n  processAttribution:\n    enabled: true\n"}))
		ds := one(t, typedOf[*appsv1.DaemonSet](objects), "exporter DaemonSet")
		spec := ds.Spec.Template.Spec
		assert.Contains(t, spec.Containers[0].Args, "--process-attribution")
		proc, _ := argValue(spec.Containers[0].Args, "--proc-path")
		assert.Equal(t, "/host/proc", proc, "NVML reports host PIDs: their cgroups are read from the host's /proc")
		require.NotNil(t, spec.AutomountServiceAccountToken)
		assert.True(t, *spec.AutomountServiceAccountToken, "the exporter lists its node's pods with its token")
		assert.False(t, spec.HostPID, "the host's /proc mount is enough: no hostPID")
		role := one(t, filterName(typedOf[*rbacv1.ClusterRole](objects), exporterName+"-pods"), "exporter ClusterRole")
		assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}}, role.Rules)
		binding := one(t, filterName(typedOf[*rbacv1.ClusterRoleBinding](objects), exporterName+"-pods"), "exporter ClusterRoleBinding")
		require.Len(t, binding.Subjects, 1)
		assert.Equal(t, spec.ServiceAccountName, binding.Subjects[0].Name)
		assert.Equal(t, ds.Namespace, binding.Subjects[0].Namespace)

		off := one(t, typedOf[*appsv1.DaemonSet](decodeAll(t, render(t, renderRequest{}))), "exporter DaemonSet")
		assert.NotContains(t, off.Spec.Template.Spec.Containers[0].Args, "--process-attribution")
		assert.False(t, *off.Spec.Template.Spec.AutomountServiceAccountToken, "no token by default")
	})
	t.Run("simulated backend mounts the rendered simulation file", func(t *testing.T) {
		t.Parallel()
		objects := decodeAll(t, render(t, renderRequest{valuesFiles: []string{"values/kind.yaml"}, set: map[string]string{"exporter.collectionInterval": "15s", "exporter.runtimeClassName": "nvidia"}}))
		ds := one(t, typedOf[*appsv1.DaemonSet](objects), "exporter DaemonSet")
		c := ds.Spec.Template.Spec.Containers[0]
		file, ok := argValue(c.Args, "--simulation-file")
		require.True(t, ok)
		model, _ := argValue(c.Args, "--simulation-model")
		assert.Equal(t, "dgxa100", model)
		interval, _ := argValue(c.Args, "--collection-interval")
		assert.Equal(t, "15s", interval)
		assert.Equal(t, "nvidia", *ds.Spec.Template.Spec.RuntimeClassName)
		cm := one(t, filterName(typedOf[*corev1.ConfigMap](objects), exporterName+"-simulation"), "simulation ConfigMap")
		assert.Contains(t, cm.Data["simulation.yaml"], "utilizationPercent: 10")
		assert.True(t, strings.HasSuffix(file, "/simulation.yaml"))
	})
}

func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	objects := decodeAll(t, render(t, renderRequest{values: "networkPolicy:\n  adapter:\n    apiServerCIDRs: [\"10.0.0.0/24\"]\n"}))
	nps := map[string]*networkingv1.NetworkPolicy{}
	for _, np := range typedOf[*networkingv1.NetworkPolicy](objects) {
		nps[np.Labels["app.kubernetes.io/component"]] = np
	}
	ds := one(t, typedOf[*appsv1.DaemonSet](objects), "exporter DaemonSet")
	dep := one(t, typedOf[*appsv1.Deployment](objects), "adapter Deployment")

	exp := nps["exporter"]
	require.NotNil(t, exp)
	sel, err := metav1LabelSelector(&exp.Spec.PodSelector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(ds.Spec.Template.Labels)), "exporter policy selects the exporter pods")
	assert.False(t, sel.Matches(labels.Set(dep.Spec.Template.Labels)))
	require.Len(t, exp.Spec.Ingress, 1)
	var nsLabels []map[string]string
	for _, p := range exp.Spec.Ingress[0].From {
		require.NotNil(t, p.NamespaceSelector)
		nsLabels = append(nsLabels, p.NamespaceSelector.MatchLabels)
	}
	assert.ElementsMatch(t, []map[string]string{{"kubernetes.io/metadata.name": "monitoring"}}, nsLabels,
		"only the monitoring namespace, by the label the API server sets (the seed's forgeable name label is opt-in)")
	assert.Equal(t, 9400, exp.Spec.Ingress[0].Ports[0].Port.IntValue())

	ad := nps["adapter"]
	require.NotNil(t, ad)
	sel, err = metav1LabelSelector(&ad.Spec.PodSelector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(dep.Spec.Template.Labels)), "adapter policy selects the adapter pods")
	assert.Equal(t, 6443, ad.Spec.Ingress[0].Ports[0].Port.IntValue())
	require.Len(t, ad.Spec.Ingress[0].From, 1)
	assert.Equal(t, "10.0.0.0/24", ad.Spec.Ingress[0].From[0].IPBlock.CIDR)
}
