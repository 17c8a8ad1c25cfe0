package gpuplane

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
)

// prepareNamespaces creates or labels the release namespace (with
// NamespaceLabels) and the exporter's own namespace (Pod Security
// privileged) before the charts are installed, as a platform team would.
func (p *Plane) prepareNamespaces(ctx context.Context) error {
	if len(p.opts.NamespaceLabels) > 0 {
		if err := p.ensureNamespace(ctx, p.opts.Namespace, p.opts.NamespaceLabels); err != nil {
			return err
		}
	}
	if p.opts.ExporterNamespace != "" && p.opts.ExporterNamespace != p.opts.Namespace {
		return p.ensureNamespace(ctx, p.opts.ExporterNamespace, map[string]string{psapi.EnforceLevelLabel: string(psapi.LevelPrivileged)})
	}
	return nil
}

// ensureNamespace creates a namespace with labels, or adds them to it.
func (p *Plane) ensureNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns, err := p.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = p.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	maps.Copy(ns.Labels, labels)
	if _, err := p.cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("label namespace %s: %w", name, err)
	}
	return nil
}
