package doctor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	idPrometheus        = "prometheus-query"
	idAdapterPrometheus = "adapter-prometheus"
	idExporterCoverage  = "exporter-on-gpu-nodes"
	idExporterTargets   = "exporter-targets-up"
	idPodLabels         = "gpu-series-pod-labels"
	idNVML              = "exporter-gpu-backend-up"

	// Metric names of the exporter (the seed's names are the contract).
	metricGPUUtilization = "gpu_utilization_percent"
	metricGPUMemoryTotal = "gpu_memory_total_mb"
	metricExporterUp     = "gpu_exporter_up"
)

// GPUResource is the extended resource whole GPUs are requested as.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// query runs an instant query; the first failure is reported once as a FAIL
// and later Prometheus checks are skipped.
func (r *runner) query(ctx context.Context, q string) (model.Vector, bool) {
	if r.cfg.Prometheus == nil || r.promBroken {
		return nil, false
	}
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, _, _, err := r.cfg.Prometheus.Query(qctx, q, r.cfg.Now())
	if err != nil {
		r.promBroken = true
		r.fail(idPrometheus, prometheusName(r.cfg), fmt.Sprintf("query %q failed: %v", q, err),
			"pass a --prometheus-url this machine can reach (e.g. kubectl -n monitoring port-forward svc/prometheus 9090 and --prometheus-url http://127.0.0.1:9090)")
		return nil, false
	}
	vec, ok := v.(model.Vector)
	if !ok {
		r.promBroken = true
		r.fail(idPrometheus, prometheusName(r.cfg), fmt.Sprintf("query %q returned %s, not a vector", q, v.Type()), "check --prometheus-url points at a Prometheus query API")
		return nil, false
	}
	return vec, true
}

func prometheusName(cfg Config) string {
	if cfg.PrometheusURL != "" {
		return cfg.PrometheusURL
	}
	return "prometheus"
}

func (r *runner) skippedWithoutPrometheus(id, subject, what string) bool {
	if r.cfg.Prometheus != nil && !r.promBroken {
		return false
	}
	if r.promBroken {
		r.warn(id, subject, what+" not checked: Prometheus could not be queried", "fix the prometheus-query check first")
		return true
	}
	r.warn(id, subject, what+" not checked without Prometheus", "pass --prometheus-url (the Prometheus the adapter reads) to check it")
	return true
}

// checkExporters: every GPU node has an exporter — a ready DaemonSet pod, or
// (with Prometheus) GPU series from an exporter target that is up. On kwok's
// fake nodes pod readiness is simulated, so only Prometheus counts there.
func (r *runner) checkExporters(ctx context.Context) error {
	sel, err := labels.Parse(r.cfg.GPUNodeSelector)
	if err != nil {
		return fmt.Errorf("GPU node selector %q: %w", r.cfg.GPUNodeSelector, err)
	}
	nodes, err := r.cfg.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return fmt.Errorf("list GPU nodes (%s): %w", sel, err)
	}
	pods, err := r.cfg.Kube.CoreV1().Pods(r.cfg.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=exporter,app.kubernetes.io/instance=" + r.cfg.Release,
	})
	if err != nil {
		return fmt.Errorf("list exporter pods: %w", err)
	}
	readyOn := map[string]string{}
	for _, p := range pods.Items {
		if podReady(&p) {
			readyOn[p.Spec.NodeName] = p.Name
		}
	}

	// Prometheus' view: targets of the exporter job, and the nodes their GPU series name.
	var promNodes map[string]string
	if !r.skippedWithoutPrometheus(idExporterTargets, "job "+r.cfg.ExporterJob, "exporter scrape targets") {
		promNodes = r.exporterTargets(ctx)
	}

	if len(nodes.Items) == 0 {
		r.warn(idExporterCoverage, r.cfg.GPUNodeSelector, "no nodes match the GPU node selector",
			"label GPU nodes nvidia.com/gpu.present=true (NVIDIA GPU feature discovery does it) or pass --gpu-node-selector")
		return nil
	}
	var covered, missing, simulated []string
	for _, n := range nodes.Items {
		fake := n.Annotations[KwokNodeAnnotation] == "fake"
		switch {
		case promNodes != nil && promNodes[n.Name] != "":
			covered = append(covered, fmt.Sprintf("%s (target %s)", n.Name, promNodes[n.Name]))
		case promNodes != nil:
			state := "no exporter pod"
			if p, ok := readyOn[n.Name]; ok {
				state = "pod " + p + " ready"
			}
			missing = append(missing, fmt.Sprintf("%s (%s, but no GPU series in Prometheus)", n.Name, state))
		case fake:
			simulated = append(simulated, n.Name)
		case readyOn[n.Name] != "":
			covered = append(covered, fmt.Sprintf("%s (pod %s)", n.Name, readyOn[n.Name]))
		default:
			missing = append(missing, n.Name+" (no ready exporter pod)")
		}
	}
	subject := fmt.Sprintf("%d GPU nodes", len(nodes.Items))
	switch {
	case len(missing) > 0:
		r.fail(idExporterCoverage, subject, fmt.Sprintf("no working exporter on %s", strings.Join(missing, "; ")),
			fmt.Sprintf("check the DaemonSet: kubectl -n %s get ds,pods -l app.kubernetes.io/component=exporter -o wide (tolerations for GPU taints, nodeSelector, image), "+
				"its logs (NVML, pod-resources socket), and that Prometheus scrapes it", r.cfg.Namespace))
	case len(simulated) > 0:
		r.warn(idExporterCoverage, subject, fmt.Sprintf("kwok fake nodes %s: DaemonSet pods there never run (their readiness is simulated); %d other nodes covered",
			strings.Join(simulated, ", "), len(covered)),
			"pass --prometheus-url to check the exporter processes that serve fake nodes through their scrape targets")
	default:
		r.pass(idExporterCoverage, subject, "exporter on every GPU node: "+strings.Join(covered, ", "))
	}
	return nil
}

// exporterTargets checks the exporter job's targets are up and returns, for
// each node named by GPU series of an up target, that target's instance.
func (r *runner) exporterTargets(ctx context.Context) map[string]string {
	up, ok := r.query(ctx, fmt.Sprintf(`up{job=~%q}`, r.cfg.ExporterJob))
	if !ok {
		return nil
	}
	if len(up) == 0 {
		r.fail(idExporterTargets, "job "+r.cfg.ExporterJob, "Prometheus has no scrape targets for the exporter job",
			"make Prometheus scrape the exporter: a ServiceMonitor (exporter.serviceMonitor.enabled with prometheus-operator) or the prometheus.io/* pod annotations "+
				"with a kubernetes-pods job (honor_labels: true); if the job has another name pass --exporter-job")
		return map[string]string{}
	}
	upInstances := map[string]bool{}
	var down []string
	for _, s := range up {
		inst := string(s.Metric["instance"])
		if s.Value == 1 {
			upInstances[inst] = true
		} else {
			down = append(down, inst)
		}
	}
	sort.Strings(down)
	if len(down) > 0 {
		r.fail(idExporterTargets, "job "+r.cfg.ExporterJob, fmt.Sprintf("%d of %d exporter targets down: %s", len(down), len(up), strings.Join(down, ", ")),
			fmt.Sprintf("the exporter does not answer scrapes there: kubectl -n %s get pods -l app.kubernetes.io/component=exporter -o wide, its logs, "+
				"and NetworkPolicy must allow Prometheus → exporter port 9400", r.cfg.Namespace))
	} else {
		r.pass(idExporterTargets, "job "+r.cfg.ExporterJob, fmt.Sprintf("%d exporter targets up", len(up)))
	}
	series, ok := r.query(ctx, metricGPUMemoryTotal)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, s := range series {
		inst := string(s.Metric["instance"])
		if node := string(s.Metric["node"]); node != "" && upInstances[inst] {
			out[node] = inst
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// checkPodLabels: GPU series carry the namespace/pod of the workload holding
// the GPU, and no exported_pod/exported_namespace (honor_labels off).
func (r *runner) checkPodLabels(ctx context.Context) error {
	subject := metricGPUUtilization
	if r.skippedWithoutPrometheus(idPodLabels, subject, "pod labels on GPU series") {
		return nil
	}
	series, ok := r.query(ctx, metricGPUUtilization)
	if !ok {
		return nil
	}
	if len(series) == 0 {
		r.fail(idPodLabels, subject, "Prometheus has no gpu_utilization_percent series",
			"Prometheus does not scrape the exporter or the exporter sees no GPUs: see exporter-targets-up and exporter-gpu-backend-up")
		return nil
	}
	var renamed []string
	attributed := map[string]bool{}
	for _, s := range series {
		if p, ok := s.Metric["exported_pod"]; ok {
			renamed = append(renamed, fmt.Sprintf("exported_pod=%s", p))
		} else if ns, ok := s.Metric["exported_namespace"]; ok {
			renamed = append(renamed, fmt.Sprintf("exported_namespace=%s", ns))
		}
		if ns, pod := s.Metric["namespace"], s.Metric["pod"]; ns != "" && pod != "" {
			attributed[string(ns)+"/"+string(pod)] = true
		}
	}
	if len(renamed) > 0 {
		sort.Strings(renamed)
		r.fail(idPodLabels, subject, fmt.Sprintf("%d of %d series carry renamed pod labels (%s): Prometheus replaced the exporter's namespace/pod with the exporter pod's own",
			len(renamed), len(series), abbreviate(renamed, 3)),
			"turn honor_labels on for the exporter's scrape: honorLabels: true on the ServiceMonitor (the chart sets it) or honor_labels: true in the scrape job")
		return nil
	}
	gpuPods, err := r.gpuPods(ctx)
	if err != nil {
		return err
	}
	if len(gpuPods) == 0 {
		r.warn(idPodLabels, subject, fmt.Sprintf("no running pod in %s requests %s, so attribution cannot be verified", r.cfg.Namespace, GPUResource),
			"deploy the GPU services (charts/gpu-services) and run doctor again")
		return nil
	}
	var missing, found []string
	for _, p := range gpuPods {
		if attributed[p.Namespace+"/"+p.Name] {
			found = append(found, p.Name)
		} else {
			missing = append(missing, p.Name)
		}
	}
	sort.Strings(missing)
	fix := fmt.Sprintf("the exporter cannot attribute GPUs to pods: mount the kubelet pod-resources socket (/var/lib/kubelet/pod-resources, values exporter.podResources.enabled=true) into the exporter, "+
		"check gpu_exporter_pod_resources_up and the exporter logs (kubectl -n %s logs -l app.kubernetes.io/component=exporter)", r.cfg.Namespace)
	switch {
	case len(found) == 0:
		r.fail(idPodLabels, subject, fmt.Sprintf("none of the %d running GPU pods appears in the namespace/pod labels of %d GPU series", len(gpuPods), len(series)), fix)
	case len(missing) > 0:
		r.warn(idPodLabels, subject, fmt.Sprintf("%d/%d GPU pods attributed; missing: %s", len(found), len(gpuPods), abbreviate(missing, 5)),
			"a pod appears after the next exporter collection and scrape; if it stays missing, "+fix)
	default:
		r.pass(idPodLabels, subject, fmt.Sprintf("all %d running GPU pods have GPU series with their namespace/pod; no exported_* labels", len(gpuPods)))
	}
	return nil
}

// gpuPods lists the namespace's running pods that request whole GPUs.
func (r *runner) gpuPods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := r.cfg.Kube.CoreV1().Pods(r.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", r.cfg.Namespace, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Spec.Containers {
			if q, ok := c.Resources.Limits[GPUResource]; ok && !q.IsZero() {
				out = append(out, p)
				break
			}
			if q, ok := c.Resources.Requests[GPUResource]; ok && !q.IsZero() {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

// checkNVML: gpu_exporter_up is 1 on every exporter.
func (r *runner) checkNVML(ctx context.Context) error {
	subject := metricExporterUp
	if r.skippedWithoutPrometheus(idNVML, subject, "the exporters' GPU backend") {
		return nil
	}
	series, ok := r.query(ctx, metricExporterUp)
	if !ok {
		return nil
	}
	if len(series) == 0 {
		r.warn(idNVML, subject, "no gpu_exporter_up series: the exporter is not scraped or predates this metric",
			"see exporter-targets-up; upgrade the exporter image to this chart's appVersion")
		return nil
	}
	var down, backends []string
	for _, s := range series {
		where := string(s.Metric["instance"])
		if n := s.Metric["node"]; n != "" {
			where = string(n)
		}
		b := string(s.Metric["backend"])
		if s.Value != 1 {
			down = append(down, fmt.Sprintf("%s (backend %s)", where, b))
		} else {
			backends = append(backends, b)
		}
	}
	sort.Strings(down)
	if len(down) > 0 {
		r.fail(idNVML, subject, fmt.Sprintf("GPU backend down on %d of %d exporters: %s", len(down), len(series), strings.Join(down, ", ")),
			fmt.Sprintf("NVML is not usable there: the node needs the NVIDIA driver and the exporter libnvidia-ml.so.1 (NVIDIA container toolkit / runtimeClassName nvidia); "+
				"run nvidia-smi on the node and read kubectl -n %s logs -l app.kubernetes.io/component=exporter", r.cfg.Namespace))
		return nil
	}
	r.pass(idNVML, subject, fmt.Sprintf("GPU backend up on all %d exporters (backends: %s)", len(series), countValues(backends)))
	return nil
}

func countValues(vals []string) string {
	n := map[string]int{}
	for _, v := range vals {
		n[v]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// replicaChangesFromPrometheus reads kube-state-metrics' replica series, when present.
func (r *runner) replicaChangesFromPrometheus(ctx context.Context) (map[string]int, bool) {
	if r.cfg.Prometheus == nil || r.promBroken {
		return nil, false
	}
	v, ok := r.query(ctx, fmt.Sprintf(`changes(kube_horizontalpodautoscaler_status_current_replicas{namespace=%q}[1h])`, r.cfg.Namespace))
	if !ok || len(v) == 0 {
		return nil, false
	}
	out := map[string]int{}
	for _, s := range v {
		out[string(s.Metric["horizontalpodautoscaler"])] = int(s.Value)
	}
	return out, true
}

// checkAdapterPrometheus: the adapter reaches its Prometheus. A metric query
// the adapter answered proves it; its "unable to fetch metrics" error
// disproves it; otherwise the adapter's --prometheus-url is inspected.
func (r *runner) checkAdapterPrometheus(ctx context.Context) error {
	subject := "adapter → prometheus"
	fix := "the adapter cannot query Prometheus: set values adapter.prometheus.url to the in-cluster Prometheus (e.g. http://prometheus-server.monitoring.svc:80), " +
		"check Prometheus is up and NetworkPolicy allows adapter → Prometheus; the adapter logs 'unable to fetch metrics from prometheus'"
	if len(r.promFetchErrors) > 0 {
		r.fail(idAdapterPrometheus, subject, fmt.Sprintf("%d metric queries failed inside the adapter: %s", len(r.promFetchErrors), r.promFetchErrors[0]), fix)
		return nil
	}
	if r.metricSuccesses > 0 {
		r.pass(idAdapterPrometheus, subject, fmt.Sprintf("the adapter answered %d of %d metric queries from Prometheus", r.metricSuccesses, r.metricQueries))
		return nil
	}
	promURL, dep, err := r.adapterPrometheusURL(ctx)
	if err != nil {
		return err
	}
	if dep == nil {
		r.warn(idAdapterPrometheus, subject, fmt.Sprintf("no adapter Deployment of release %s in %s (rules-only mode?) and no metric query succeeded", r.cfg.Release, r.cfg.Namespace),
			"check your prometheus-adapter's --prometheus-url by hand")
		return nil
	}
	if promURL == "" {
		r.fail(idAdapterPrometheus, subject, fmt.Sprintf("Deployment %s has no --prometheus-url argument", dep.Name), "set values adapter.prometheus.url")
		return nil
	}
	u, err := url.Parse(promURL)
	if err != nil || u.Host == "" {
		r.fail(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %q is not a URL", promURL), "set values adapter.prometheus.url to http(s)://host:port")
		return nil
	}
	if svc, ns, ok := serviceOf(u.Hostname(), r.cfg.Namespace); ok {
		ready, err := r.serviceReady(ctx, ns, svc)
		switch {
		case err != nil:
			r.fail(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s: %v", promURL, err), fix)
		case !ready:
			r.fail(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s: Service %s/%s has no ready endpoints", promURL, ns, svc), fix)
		default:
			r.pass(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s: Service %s/%s has ready endpoints", promURL, ns, svc))
		}
		return nil
	}
	// A host address: probe it from here (the sandbox runs everything locally).
	if err := probeReady(ctx, promURL); err != nil {
		r.warn(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s does not answer from this machine: %v (no metric query proved it either)", promURL, err), fix)
		return nil
	}
	r.pass(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s answers /-/ready", promURL))
	return nil
}

func (r *runner) adapterPrometheusURL(ctx context.Context) (string, *appsv1.Deployment, error) {
	deps, err := r.cfg.Kube.AppsV1().Deployments(r.cfg.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=adapter,app.kubernetes.io/instance=" + r.cfg.Release,
	})
	if err != nil {
		return "", nil, fmt.Errorf("list adapter Deployments: %w", err)
	}
	if len(deps.Items) == 0 {
		return "", nil, nil
	}
	d := &deps.Items[0]
	for _, c := range d.Spec.Template.Spec.Containers {
		args := append(append([]string(nil), c.Command...), c.Args...)
		for i, a := range args {
			if v, ok := strings.CutPrefix(a, "--prometheus-url="); ok {
				return v, d, nil
			}
			if a == "--prometheus-url" && i+1 < len(args) {
				return args[i+1], d, nil
			}
		}
	}
	return "", d, nil
}

// serviceOf recognises in-cluster Service host names: name, name.ns,
// name.ns.svc, name.ns.svc.cluster.local.
func serviceOf(host, defaultNS string) (svc, ns string, ok bool) {
	parts := strings.Split(host, ".")
	switch {
	case len(parts) == 1 && host != "localhost":
		return parts[0], defaultNS, true
	case len(parts) == 2 && !isNumeric(parts[1]):
		return parts[0], parts[1], true
	case len(parts) >= 3 && parts[2] == "svc":
		return parts[0], parts[1], true
	}
	return "", "", false
}

func isNumeric(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func (r *runner) serviceReady(ctx context.Context, ns, name string) (bool, error) {
	svc, err := r.cfg.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, fmt.Errorf("Service %s/%s does not exist", ns, name)
	}
	if err != nil {
		return false, fmt.Errorf("read Service %s/%s: %v", ns, name, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return true, nil
	}
	slices, err := r.cfg.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
	if err != nil {
		return false, fmt.Errorf("list EndpointSlices of %s/%s: %v", ns, name, err)
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				return true, nil
			}
		}
	}
	return false, nil
}

func probeReady(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
