package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// checkExporters: every GPU node — every node that reports nvidia.com/gpu
// (or MIG) capacity, plus those the optional GPU node selector matches — has
// an exporter: a ready DaemonSet pod, or (with Prometheus) GPU series from an
// exporter target that is up. A node left without one is named with the
// reason the DaemonSet skips it (labels, taints) or its pod's state. On
// kwok's fake nodes pod readiness is simulated, so only Prometheus counts
// there. The exporter may live in its own namespace: its DaemonSets and pods
// are found by the release's labels in every namespace.
func (r *runner) checkExporters(ctx context.Context) error {
	nodes, err := r.gpuNodes(ctx)
	if err != nil {
		return err
	}
	exporterSel := metav1.ListOptions{LabelSelector: contract.ComponentLabel + "=exporter," + contract.InstanceLabel + "=" + r.cfg.Release}
	daemonSets, err := r.cfg.Kube.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, exporterSel)
	if err != nil {
		return fmt.Errorf("list exporter DaemonSets: %w", err)
	}
	pods, err := r.cfg.Kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, exporterSel)
	if err != nil {
		return fmt.Errorf("list exporter pods: %w", err)
	}
	if len(daemonSets.Items) > 0 {
		r.exporterNamespace = daemonSets.Items[0].Namespace
	}
	if err := r.checkExporterPodSecurity(ctx, daemonSets.Items); err != nil {
		return err
	}
	readyOn, podOn := map[string]string{}, map[string]string{}
	for _, p := range pods.Items {
		podOn[p.Spec.NodeName] = p.Name
		if podReady(&p) {
			readyOn[p.Spec.NodeName] = p.Name
		}
	}

	// Prometheus' view: targets of the exporter job, and the nodes their GPU series name.
	var promNodes map[string]string
	if !r.skippedWithoutPrometheus(idExporterTargets, "job "+r.cfg.ExporterJob, "exporter scrape targets") {
		promNodes = r.exporterTargets(ctx)
	}

	if len(nodes) == 0 {
		r.warn(idExporterCoverage, "GPU nodes", fmt.Sprintf("no node reports %s capacity%s", contract.GPUResource, r.selectorNote()),
			"install the NVIDIA device plugin (the GPU Operator does) so GPU nodes advertise nvidia.com/gpu, or pass --gpu-node-selector")
		return nil
	}
	var covered, missing, simulated []string
	for _, n := range nodes {
		fake := n.Annotations[KwokNodeAnnotation] == "fake"
		switch {
		case promNodes != nil && promNodes[n.Name] != "":
			covered = append(covered, fmt.Sprintf("%s (target %s)", n.Name, promNodes[n.Name]))
		case promNodes != nil && readyOn[n.Name] != "":
			missing = append(missing, fmt.Sprintf("%s (pod %s ready, but no GPU series in Prometheus)", n.Name, readyOn[n.Name]))
		case fake && promNodes == nil:
			simulated = append(simulated, n.Name)
		case readyOn[n.Name] != "" && promNodes == nil:
			covered = append(covered, fmt.Sprintf("%s (pod %s)", n.Name, readyOn[n.Name]))
		default:
			missing = append(missing, fmt.Sprintf("%s (%s)", n.Name, whyNoExporter(&n, daemonSets.Items, podOn[n.Name])))
		}
	}
	subject := fmt.Sprintf("%d GPU nodes", len(nodes))
	switch {
	case len(missing) > 0:
		r.fail(idExporterCoverage, subject, fmt.Sprintf("no working exporter on %s", strings.Join(missing, "; ")),
			fmt.Sprintf("kubectl get ds,pods -A -l %s -o wide; a GPU node needs one of the labels in exporter.gpuNodeAffinity "+
				"(GPU Operator, GKE, EKS, AKS labels by default; add your platform's) and tolerations for its taints (exporter.tolerations); "+
				"then check the pod's logs (NVML, pod-resources socket) and that Prometheus scrapes it", exporterSel.LabelSelector))
	case len(simulated) > 0:
		r.warn(idExporterCoverage, subject, fmt.Sprintf("kwok fake nodes %s: DaemonSet pods there never run (their readiness is simulated); %d other nodes covered",
			strings.Join(simulated, ", "), len(covered)),
			"pass --prometheus-url to check the exporter processes that serve fake nodes through their scrape targets")
	default:
		r.pass(idExporterCoverage, subject, "exporter on every GPU node: "+strings.Join(covered, ", "))
	}
	return nil
}

// gpuNodes lists the nodes that report GPU capacity, plus those matching the
// configured selector, sorted by name.
func (r *runner) gpuNodes(ctx context.Context) ([]corev1.Node, error) {
	var sel labels.Selector
	if r.cfg.GPUNodeSelector != "" {
		var err error
		if sel, err = labels.Parse(r.cfg.GPUNodeSelector); err != nil {
			return nil, fmt.Errorf("GPU node selector %q: %w", r.cfg.GPUNodeSelector, err)
		}
	}
	all, err := r.cfg.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []corev1.Node
	for _, n := range all.Items {
		if contract.ReportsGPUs(&n) || (sel != nil && sel.Matches(labels.Set(n.Labels))) {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *runner) selectorNote() string {
	if r.cfg.GPUNodeSelector == "" {
		return ""
	}
	return " and none matches --gpu-node-selector " + r.cfg.GPUNodeSelector
}

// whyNoExporter says why a GPU node has no working exporter: the pod there
// is not ready, no exporter DaemonSet exists, or the DaemonSet's node
// affinity, nodeSelector or tolerations keep it off the node (the
// scheduler's own matching).
func whyNoExporter(n *corev1.Node, daemonSets []appsv1.DaemonSet, pod string) string {
	if pod != "" {
		return "pod " + pod + " not ready"
	}
	if len(daemonSets) == 0 {
		return "no exporter DaemonSet of this release in any namespace"
	}
	var reasons []string
	for _, ds := range daemonSets {
		p := &corev1.Pod{Spec: ds.Spec.Template.Spec}
		if ok, err := nodeaffinity.GetRequiredNodeAffinity(p).Match(n); err != nil || !ok {
			reasons = append(reasons, fmt.Sprintf("DaemonSet %s/%s does not select it: its labels match neither the nodeSelector nor any node affinity term (exporter.gpuNodeAffinity)", ds.Namespace, ds.Name))
			continue
		}
		taint, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, p.Spec.Tolerations, func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false)
		if untolerated {
			reasons = append(reasons, fmt.Sprintf("DaemonSet %s/%s does not tolerate its taint %s (exporter.tolerations)", ds.Namespace, ds.Name, taint.ToString()))
			continue
		}
		reasons = append(reasons, fmt.Sprintf("DaemonSet %s/%s selects it but has no pod there: kubectl -n %s describe ds %s (events: Pod Security, quota, image)", ds.Namespace, ds.Name, ds.Namespace, ds.Name))
	}
	return strings.Join(reasons, "; ")
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
				"and NetworkPolicy must allow Prometheus → exporter port 9400", r.exporterNamespace))
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
		r.warn(idPodLabels, subject, fmt.Sprintf("no running pod in %s requests %s, so attribution cannot be verified", r.cfg.Namespace, contract.GPUResource),
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
		"check gpu_exporter_pod_resources_up and the exporter logs (kubectl -n %s logs -l app.kubernetes.io/component=exporter)", r.exporterNamespace)
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
			if q, ok := c.Resources.Limits[contract.GPUResource]; ok && !q.IsZero() {
				out = append(out, p)
				break
			}
			if q, ok := c.Resources.Requests[contract.GPUResource]; ok && !q.IsZero() {
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
				"run nvidia-smi on the node and read kubectl -n %s logs -l app.kubernetes.io/component=exporter", r.exporterNamespace))
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
