package sandbox

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// componentSelector selects the release's objects of one component.
func (g *GPUPlane) componentSelector(component string) string {
	return fmt.Sprintf("%s=%s,%s=%s", contract.ComponentLabel, component, contract.InstanceLabel, g.opts.Release)
}

// volumeFiles writes the ConfigMap/Secret volumes a pod template mounts into
// base/<volume> and returns mountPath → local folder for every mount, so the
// container's args can be rewritten to point at the same files on the host.
// hostPath volumes map to base/<volume> (a per-node stand-in for the host
// folder) except /proc and /sys, which are the host's own.
func (g *GPUPlane) volumeFiles(ctx context.Context, ns string, spec corev1.PodSpec, container corev1.Container, base string) (map[string]string, error) {
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range container.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s has no volume", m.Name)
		}
		local := filepath.Join(base, m.Name)
		if err := os.MkdirAll(local, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", local, err)
		}
		files := map[string][]byte{}
		switch {
		case v.ConfigMap != nil:
			cm, err := g.cs.CoreV1().ConfigMaps(ns).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("read ConfigMap %s/%s mounted at %s: %w", ns, v.ConfigMap.Name, m.MountPath, err)
			}
			for k, val := range cm.Data {
				files[k] = []byte(val)
			}
		case v.Secret != nil:
			sec, err := g.cs.CoreV1().Secrets(ns).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("read Secret %s/%s mounted at %s: %w", ns, v.Secret.SecretName, m.MountPath, err)
			}
			maps.Copy(files, sec.Data)
		case v.HostPath != nil:
			if v.HostPath.Path == "/proc" || v.HostPath.Path == "/sys" {
				local = v.HostPath.Path
			}
		}
		for k, data := range files {
			if err := os.WriteFile(filepath.Join(local, k), data, 0o600); err != nil {
				return nil, fmt.Errorf("write %s: %w", k, err)
			}
		}
		mounts[m.MountPath] = local
	}
	return mounts, nil
}

// rewriteArgs replaces container paths under a mount with the local folder.
func rewriteArgs(args []string, mounts map[string]string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		name, val, ok := strings.Cut(a, "=")
		if ok {
			for mp, local := range mounts {
				if val == mp || strings.HasPrefix(val, strings.TrimSuffix(mp, "/")+"/") {
					val = local + strings.TrimPrefix(val, strings.TrimSuffix(mp, "/"))
					break
				}
			}
			a = name + "=" + val
		}
		out = append(out, a)
	}
	return out
}

// setArg replaces --name=... in args (or appends it).
func setArg(args []string, name, value string) []string {
	for i, a := range args {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			args[i] = "--" + name + "=" + value
			return args
		}
	}
	return append(args, "--"+name+"="+value)
}

// argValue returns the value of --name=value in args.
func argValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// containerArgs is the container's command line without the executable:
// command[1:] followed by args (the local binary replaces command[0]).
func containerArgs(c corev1.Container) []string {
	var out []string
	if len(c.Command) > 1 {
		out = append(out, c.Command[1:]...)
	}
	return append(out, c.Args...)
}

func findContainer(spec corev1.PodSpec, name string) (corev1.Container, error) {
	for _, c := range spec.Containers {
		if name == "" || c.Name == name {
			return c, nil
		}
	}
	return corev1.Container{}, fmt.Errorf("container %q not found", name)
}
