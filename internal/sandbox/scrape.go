package sandbox

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// configureScrape adds the exporter job to Prometheus as the chart asks: from
// its ServiceMonitor when one was rendered, otherwise from the prometheus.io
// annotations on the DaemonSet's pods (honor_labels on, as the usual
// annotation-driven kubernetes-pods job has it).
func (g *GPUPlane) configureScrape(ctx context.Context, ds *appsv1.DaemonSet) error {
	sm, err := g.serviceMonitor(ctx)
	if err != nil {
		return err
	}
	var job ScrapeJob
	if sm != nil {
		if job, err = scrapeJobFromServiceMonitor(sm); err != nil {
			return err
		}
		g.scrapeSource = "ServiceMonitor " + sm.GetNamespace() + "/" + sm.GetName()
	} else {
		ann := ds.Spec.Template.Annotations
		job = ScrapeJob{Name: contract.ExporterJob, HonorLabels: true, MetricsPath: "/metrics", Scheme: "http"}
		if ann["prometheus.io/scrape"] != "true" {
			return fmt.Errorf("exporter DaemonSet %s: pods are not annotated prometheus.io/scrape=true and no ServiceMonitor was rendered; Prometheus would not scrape them", ds.Name)
		}
		if p := ann["prometheus.io/path"]; p != "" {
			job.MetricsPath = p
		}
		if s := ann["prometheus.io/scheme"]; s != "" {
			job.Scheme = s
		}
		g.scrapeSource = "prometheus.io annotations of DaemonSet " + ds.Name
	}
	g.scrapeJob = job.Name
	pods, err := g.cs.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(ds.Spec.Selector)})
	if err != nil {
		return fmt.Errorf("list exporter pods: %w", err)
	}
	podOn := map[string]string{}
	for _, p := range pods.Items {
		podOn[p.Spec.NodeName] = p.Name
	}
	for _, node := range g.sb.state.Nodes {
		// Target labels as Kubernetes service discovery would attach them: the
		// exporter pod's own namespace and pod. honor_labels keeps the
		// workload's namespace/pod on attributed GPU series.
		labels := map[string]string{"namespace": ds.Namespace, "instance": node}
		if p := podOn[node]; p != "" {
			labels["pod"] = p
		}
		job.Targets = append(job.Targets, ScrapeTarget{Address: fmt.Sprintf("127.0.0.1:%d", g.nodes[node].port), Labels: labels})
	}
	return g.sb.SetScrapeJob(ctx, job)
}
