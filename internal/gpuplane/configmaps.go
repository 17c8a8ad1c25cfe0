package gpuplane

import (
	"context"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// fileRef is a file a pod reads from a mounted ConfigMap.
type fileRef struct {
	namespace, configMap, key string
}

// exporterFile finds the ConfigMap behind the exporter's --simulation-file,
// as the chart's DaemonSet mounts it.
func (p *Plane) exporterFile(ctx context.Context) (fileRef, error) {
	list, err := p.cs.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		LabelSelector: contract.ComponentLabel + "=exporter," + contract.InstanceLabel + "=" + p.main.release})
	if err != nil {
		return fileRef{}, fmt.Errorf("list the exporter DaemonSet: %w", err)
	}
	if len(list.Items) != 1 {
		return fileRef{}, fmt.Errorf("want one exporter DaemonSet in release %s, found %d (exporter.enabled?)", p.main.release, len(list.Items))
	}
	return mountedFile(list.Items[0].Namespace, list.Items[0].Spec.Template.Spec, simulationFlag, "")
}

// loadFile finds the ConfigMap behind the stand-in services' --load-file.
func (p *Plane) loadFile(ctx context.Context) (fileRef, error) {
	list, err := p.cs.AppsV1().Deployments(p.opts.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: contract.InstanceLabel + "=" + p.workloads.release})
	if err != nil {
		return fileRef{}, fmt.Errorf("list the stand-in services: %w", err)
	}
	for _, d := range list.Items {
		if ref, err := mountedFile(d.Namespace, d.Spec.Template.Spec, loadFileFlag, defaultLoad); err == nil {
			return ref, nil
		}
	}
	return fileRef{}, fmt.Errorf("no stand-in service of release %s mounts its load file from a ConfigMap", p.workloads.release)
}

// mountedFile resolves the file a container's flag names (or def) to the
// ConfigMap volume mounted over it and the key inside.
func mountedFile(ns string, spec corev1.PodSpec, flag, def string) (fileRef, error) {
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	for _, c := range spec.Containers {
		file := def
		for _, a := range append(append([]string(nil), c.Command...), c.Args...) {
			if v, ok := strings.CutPrefix(a, flag); ok {
				file = v
			}
		}
		if file == "" {
			continue
		}
		for _, m := range c.VolumeMounts {
			v, ok := volumes[m.Name]
			dir := strings.TrimSuffix(m.MountPath, "/")
			if !ok || v.ConfigMap == nil || path.Dir(file) != dir {
				continue
			}
			return fileRef{namespace: ns, configMap: v.ConfigMap.Name, key: path.Base(file)}, nil
		}
		return fileRef{}, fmt.Errorf("container %s reads %s, which no ConfigMap volume provides", c.Name, file)
	}
	return fileRef{}, fmt.Errorf("no container passes %s", strings.TrimSuffix(flag, "="))
}

// writeFile puts data under the file's key in its ConfigMap when the live
// content differs (the kubelet then updates the mounted file within its
// sync period). The live object is compared, not a cache: a helm upgrade
// may have reset the data. Only data changes; labels and annotations stay.
func (p *Plane) writeFile(ctx context.Context, locate func(context.Context) (fileRef, error), data []byte) error {
	ref, err := locate(ctx)
	if err != nil {
		return err
	}
	cm, err := p.cs.CoreV1().ConfigMaps(ref.namespace).Get(ctx, ref.configMap, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read ConfigMap %s/%s: %w", ref.namespace, ref.configMap, err)
	}
	if cm.Data[ref.key] == string(data) {
		return nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[ref.key] = string(data)
	if _, err := p.cs.CoreV1().ConfigMaps(ref.namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return nil // written again at the next step
		}
		return fmt.Errorf("write ConfigMap %s/%s: %w", ref.namespace, ref.configMap, err)
	}
	return nil
}
