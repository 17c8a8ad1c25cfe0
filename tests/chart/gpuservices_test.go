package chart_test

import (
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/medical-kg/gpu-autoscaling/internal/deviceplugin"
	"github.com/medical-kg/gpu-autoscaling/internal/images"
	"github.com/medical-kg/gpu-autoscaling/internal/standin"
)

// The stand-in services charts/gpu-services deploys.
var standinServices = []string{"gpu-management-service", "embedding-service", "reranking-service", "docling-vlm-service"}

// devicePluginFolder is the kubelet's device-plugin folder (v1beta1.DevicePluginPath, without the slash).
const devicePluginFolder = "/var/lib/kubelet/device-plugins"

// gpuServicesValuesFiles lists values/gpu-services/*.yaml, relative to the repository root.
func gpuServicesValuesFiles(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(repoRoot(t), "values", "gpu-services", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, matches, "no values files under values/gpu-services/")
	var out []string
	for _, m := range matches {
		out = append(out, filepath.Join("values", "gpu-services", filepath.Base(m)))
	}
	return out
}

// gpuServicesScenarios: the chart's defaults (a real GPU cluster) and every ready values file.
func gpuServicesScenarios(t *testing.T) []scenario {
	t.Helper()
	out := []scenario{{name: "defaults", req: renderRequest{chart: "gpu-services"}}}
	for _, f := range gpuServicesValuesFiles(t) {
		out = append(out, scenario{name: filepath.Base(f), req: renderRequest{chart: "gpu-services", valuesFiles: []string{f}}})
	}
	return out
}

func envValue(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

// flagValues parses --name=value args; a flag given twice or without a value fails the test.
func flagValues(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		require.True(t, ok && strings.HasPrefix(a, "--"), "%s: arg %q is not --name=value", where, a)
		_, dup := out[name]
		require.False(t, dup, "%s: --%s given twice", where, name)
		out[name] = value
	}
	return out
}

func quantity(t *testing.T, rl corev1.ResourceList, name string) resource.Quantity {
	t.Helper()
	q, ok := rl[corev1.ResourceName(name)]
	require.True(t, ok, "resource %s missing", name)
	return q
}

// standinConfig maps a stand-in container's args onto the program's configuration, refusing flags the
// program does not have (scripts/cmd/gpu-service), and checks the program accepts it.
func standinConfig(t *testing.T, where string, c corev1.Container) (standin.Config, map[string]string) {
	t.Helper()
	flags := flagValues(t, where, c.Args)
	known := map[string]bool{"service": true, "listen-address": true, "load-file": true, "reload-interval": true,
		"max-cpu-millicores": true, "max-memory-mib": true, "shutdown-timeout": true}
	for f := range flags {
		assert.True(t, known[f], "%s: --%s is not a flag of gpu-service", where, f)
	}
	num := func(f string) float64 {
		v, err := strconv.ParseFloat(flags[f], 64)
		require.NoError(t, err, "%s: --%s", where, f)
		return v
	}
	reload, err := time.ParseDuration(flags["reload-interval"])
	require.NoError(t, err, "%s: --reload-interval", where)
	cfg := standin.Config{Service: flags["service"], ListenAddress: flags["listen-address"], LoadFile: flags["load-file"],
		ReloadInterval: reload, MaxCPUMillicores: num("max-cpu-millicores"), MaxMemoryMiB: num("max-memory-mib")}
	require.NoError(t, cfg.Validate(), "%s: the stand-in refuses the chart's args", where)
	return cfg, flags
}

// TestGPUServicesChart: the stand-ins as every values file renders them: image, args the program
// accepts, probes, scrape annotations, the load file mounted where the stand-in reads it, resources that
// leave room for the load, and no kwok toleration.
func TestGPUServicesChart(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	wantImage, err := images.Reference(root, "gpu-service")
	require.NoError(t, err)
	type want struct {
		requests, limits map[string]string
		devicePlugin     bool
		devices          string
	}
	seed := want{
		requests: map[string]string{"memory": "4Gi", "cpu": "1", "nvidia.com/gpu": "1"},
		limits:   map[string]string{"memory": "8Gi", "cpu": "2", "nvidia.com/gpu": "1"},
	}
	small := want{
		requests: map[string]string{"memory": "256Mi", "cpu": "50m", "nvidia.com/gpu": "1"},
		limits:   map[string]string{"memory": "512Mi", "cpu": "200m", "nvidia.com/gpu": "1"},
	}
	expect := map[string]want{"defaults": seed}
	expect["sandbox.yaml"], expect["kind.yaml"] = small, small
	for _, f := range []string{"sandbox.yaml", "kind.yaml"} {
		w := expect[f]
		w.devicePlugin, w.devices = true, map[string]string{"sandbox.yaml": "24", "kind.yaml": "0"}[f]
		expect[f] = w
	}
	for _, sc := range gpuServicesScenarios(t) {
		w, ok := expect[sc.name]
		require.True(t, ok, "%s: a new values file for charts/gpu-services: add its expectations here", sc.name)
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			objects := decodeAll(t, render(t, sc.req))
			for _, o := range objects {
				for _, l := range requiredLabels {
					assert.NotEmpty(t, o.labels[l], "%s %s (%s) lacks label %s", o.kind, o.name, o.source, l)
				}
				assert.Equal(t, "medical-kg", o.labels["app.kubernetes.io/part-of"], "%s %s", o.kind, o.name)
				assert.LessOrEqual(t, len(o.name), 63, "%s %s", o.kind, o.name)
			}
			configMaps := map[string]*corev1.ConfigMap{}
			for _, cm := range typedOf[*corev1.ConfigMap](objects) {
				configMaps[cm.Name] = cm
			}
			deployments := typedOf[*appsDeployment](objects)
			require.Len(t, deployments, 4)
			names := map[string]bool{}
			for _, d := range deployments {
				names[d.Name] = true
				require.NotNil(t, d.Spec.Replicas)
				assert.EqualValues(t, 2, *d.Spec.Replicas, "%s: install-time replicas", d.Name)
				pod := d.Spec.Template
				assert.Equal(t, d.Name, pod.Labels["app"], "%s: pods carry app=<service>", d.Name)
				assert.Equal(t, d.Name, pod.Labels["app.kubernetes.io/name"], "%s", d.Name)
				assert.Equal(t, "gpu-service", pod.Labels["app.kubernetes.io/component"], "%s", d.Name)
				assert.Equal(t, map[string]string{"app.kubernetes.io/name": d.Name, "app.kubernetes.io/instance": releaseName},
					d.Spec.Selector.MatchLabels, "%s: selector is name+instance only", d.Name)
				require.Len(t, pod.Spec.Containers, 1, d.Name)
				c := pod.Spec.Containers[0]
				assert.Equal(t, wantImage, c.Image, "%s: the image internal/images builds", d.Name)

				// Args the stand-in accepts, for this service.
				cfg, flags := standinConfig(t, d.Name, c)
				assert.Equal(t, d.Name, cfg.Service, "%s: --service is the Deployment's (the load file's key)", d.Name)
				env, ok := envValue(c, "SERVICE_NAME")
				assert.True(t, ok && env.Value == d.Name, "%s: SERVICE_NAME", d.Name)
				require.Len(t, c.Ports, 1, d.Name)
				assert.Equal(t, "http", c.Ports[0].Name)
				assert.EqualValues(t, 8080, c.Ports[0].ContainerPort)
				assert.Equal(t, ":8080", cfg.ListenAddress, "%s: listens on the container port", d.Name)

				// Probes on the stand-in's endpoints.
				for what, p := range map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe} {
					if assert.NotNil(t, p, "%s: probe %s", d.Name, what) && assert.NotNil(t, p.HTTPGet, "%s: %s", d.Name, what) {
						assert.Equal(t, what, p.HTTPGet.Path, d.Name)
						assert.Equal(t, "http", p.HTTPGet.Port.String(), d.Name)
						assert.Positive(t, p.PeriodSeconds, "%s: %s period", d.Name, what)
						assert.Positive(t, p.TimeoutSeconds, "%s: %s timeout", d.Name, what)
						assert.Positive(t, p.FailureThreshold, "%s: %s failure threshold", d.Name, what)
					}
				}
				// Its own /metrics, scrapeable by annotation.
				assert.Equal(t, map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"},
					pod.Annotations, "%s: scrape annotations", d.Name)

				// The load file: mounted (as a folder, read-only) where --load-file points, from the rendered
				// ConfigMap, whose key is the file name and whose content the stand-in parses.
				var mount *corev1.VolumeMount
				for i := range c.VolumeMounts {
					if c.VolumeMounts[i].MountPath == path.Dir(cfg.LoadFile) {
						mount = &c.VolumeMounts[i]
					}
				}
				require.NotNil(t, mount, "%s: nothing mounted at %s (--load-file %s)", d.Name, path.Dir(cfg.LoadFile), cfg.LoadFile)
				assert.Equal(t, "/etc/gpu-service/load/load.yaml", cfg.LoadFile, "%s: the stand-in's default --load-file", d.Name)
				assert.True(t, mount.ReadOnly, "%s: load mounted read-only", d.Name)
				assert.Empty(t, mount.SubPath, "%s: a subPath mount never sees ConfigMap updates", d.Name)
				var vol *corev1.Volume
				for i := range pod.Spec.Volumes {
					if pod.Spec.Volumes[i].Name == mount.Name {
						vol = &pod.Spec.Volumes[i]
					}
				}
				require.NotNil(t, vol, "%s: volume %s", d.Name, mount.Name)
				require.NotNil(t, vol.ConfigMap, "%s: the load volume is a ConfigMap", d.Name)
				assert.Equal(t, releaseName+"-gpu-services-load", vol.ConfigMap.Name, "%s: <fullname>-load", d.Name)
				assert.Empty(t, vol.ConfigMap.Items, "%s: every key of the ConfigMap, under its own name", d.Name)
				cm := configMaps[vol.ConfigMap.Name]
				require.NotNil(t, cm, "%s: ConfigMap %s is rendered", d.Name, vol.ConfigMap.Name)
				data, ok := cm.Data[path.Base(cfg.LoadFile)]
				require.True(t, ok, "ConfigMap %s has no key %s", cm.Name, path.Base(cfg.LoadFile))
				loads, err := standin.ParseLoads([]byte(data))
				require.NoError(t, err, "the rendered load file must parse as the stand-in's")
				assert.Empty(t, loads, "no load until the load model writes one")
				assert.Equal(t, "services: {}", data)

				// Resources: the file's requests and limits, one GPU, and room for what the stand-in may burn
				// and hold (the program's own advice: CPU limit >= max, memory limit >= max + 30 MiB).
				for res, q := range w.requests {
					got := quantity(t, c.Resources.Requests, res)
					assert.Zero(t, got.Cmp(resource.MustParse(q)), "%s: request %s = %s, want %s", d.Name, res, got.String(), q)
				}
				for res, q := range w.limits {
					got := quantity(t, c.Resources.Limits, res)
					assert.Zero(t, got.Cmp(resource.MustParse(q)), "%s: limit %s = %s, want %s", d.Name, res, got.String(), q)
				}
				cpuLimit := quantity(t, c.Resources.Limits, "cpu")
				assert.LessOrEqual(t, cfg.MaxCPUMillicores, float64(cpuLimit.MilliValue()), "%s: --max-cpu-millicores=%s above the CPU limit", d.Name, flags["max-cpu-millicores"])
				memLimit := quantity(t, c.Resources.Limits, "memory")
				assert.LessOrEqual(t, cfg.MaxMemoryMiB+30, float64(memLimit.Value())/(1<<20), "%s: --max-memory-mib=%s too close to the memory limit", d.Name, flags["max-memory-mib"])

				// GPU nodes, no kwok: these pods run on real kubelets.
				assert.Equal(t, "true", pod.Spec.NodeSelector["nvidia.com/gpu.present"], d.Name)
				for _, tol := range pod.Spec.Tolerations {
					assert.NotEqual(t, "kwok.x-k8s.io/node", tol.Key, "%s: no kwok toleration", d.Name)
				}
			}
			for _, want := range standinServices {
				assert.True(t, names[want], "missing Deployment %s", want)
			}
			assert.Empty(t, typedOf[*corev1.Service](objects), "no Services unless service.enabled")

			dss := typedOf[*appsDaemonSet](objects)
			if !w.devicePlugin {
				assert.Empty(t, dss, "the fake device plugin is off by default (NVIDIA's plugin advertises real GPUs)")
				return
			}
			ds := one(t, dss, "device plugin DaemonSet")
			args := flagValues(t, ds.Name, ds.Spec.Template.Spec.Containers[0].Args)
			assert.Equal(t, w.devices, args["devices"], "%s: --devices", ds.Name)
			assert.Equal(t, "dgxa100", args["simulation-model"], "%s: --simulation-model", ds.Name)
		})
	}
	t.Run("replicas-null-leaves-them-to-the-hpa", func(t *testing.T) {
		t.Parallel()
		out := render(t, renderRequest{chart: "gpu-services", values: "replicas: null\n"})
		for _, d := range typedOf[*appsDeployment](decodeAll(t, out)) {
			assert.Nil(t, d.Spec.Replicas, "%s", d.Name)
		}
		assert.False(t, strings.Contains(out, "replicas:"))
	})
	t.Run("initial-load-and-scrape-annotations-off", func(t *testing.T) {
		t.Parallel()
		objects := decodeAll(t, render(t, renderRequest{chart: "gpu-services", values: `
scrapeAnnotations: false
podAnnotations: {team: gpu}
load:
  services:
    embedding-service: {cpuMillicores: 120, memoryMiB: 300.5}
`}))
		cm := one(t, filterName(typedOf[*corev1.ConfigMap](objects), releaseName+"-gpu-services-load"), "load ConfigMap")
		loads, err := standin.ParseLoads([]byte(cm.Data["load.yaml"]))
		require.NoError(t, err)
		assert.Equal(t, map[string]standin.Load{"embedding-service": {CPUMillicores: 120, MemoryMiB: 300.5}}, loads)
		def := one(t, filterName(typedOf[*corev1.ConfigMap](decodeAll(t, render(t, renderRequest{chart: "gpu-services"}))), cm.Name), "default ConfigMap")
		assert.NotEqual(t, def.Annotations["gpu-services/initial-load-sha256"], cm.Annotations["gpu-services/initial-load-sha256"],
			"the checksum follows load.services: a changed value replaces the live load on upgrade")
		assert.Len(t, cm.Annotations["gpu-services/initial-load-sha256"], 64)
		for _, d := range typedOf[*appsDeployment](objects) {
			assert.Equal(t, map[string]string{"team": "gpu"}, d.Spec.Template.Annotations, d.Name)
		}
	})
	t.Run("optional-services", func(t *testing.T) {
		t.Parallel()
		objects := decodeAll(t, render(t, renderRequest{chart: "gpu-services", values: "service:\n  enabled: true\nservices:\n  reranking-service:\n    enabled: false\n"}))
		pods := map[string]labels.Set{}
		for _, d := range typedOf[*appsDeployment](objects) {
			pods[d.Name] = d.Spec.Template.Labels
		}
		svcs := typedOf[*corev1.Service](objects)
		require.Len(t, svcs, 3, "one Service per enabled stand-in")
		for _, s := range svcs {
			require.Contains(t, pods, s.Name, "Service %s is named after its Deployment", s.Name)
			sel := labels.SelectorFromSet(s.Spec.Selector)
			for name, l := range pods {
				assert.Equal(t, name == s.Name, sel.Matches(l), "Service %s selects exactly the pods of %s", s.Name, s.Name)
			}
			assert.Equal(t, "http", s.Spec.Ports[0].TargetPort.String())
			assert.EqualValues(t, 80, s.Spec.Ports[0].Port)
		}
	})
}

// TestDevicePlugin: the fake device plugin's DaemonSet, as the sandbox renders it: image, args the program
// accepts, the node name from the downward API, the kubelet's device-plugin folder, GPU nodes.
func TestDevicePlugin(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	wantImage, err := images.Reference(root, "fake-gpu-device-plugin")
	require.NoError(t, err)
	objects := decodeAll(t, render(t, renderRequest{chart: "gpu-services", valuesFiles: []string{"values/gpu-services/sandbox.yaml"}}))
	ds := one(t, typedOf[*appsv1.DaemonSet](objects), "device plugin DaemonSet")
	assert.Equal(t, releaseName+"-gpu-services-device-plugin", ds.Name)
	assert.Equal(t, "device-plugin", ds.Labels["app.kubernetes.io/component"])
	assert.Equal(t, map[string]string{"app.kubernetes.io/name": "fake-gpu-device-plugin", "app.kubernetes.io/instance": releaseName},
		ds.Spec.Selector.MatchLabels, "selector is name+instance only")
	assert.Equal(t, appsv1.RollingUpdateDaemonSetStrategyType, ds.Spec.UpdateStrategy.Type)
	spec := ds.Spec.Template.Spec
	assert.Equal(t, "true", spec.NodeSelector["nvidia.com/gpu.present"])
	for _, tol := range spec.Tolerations {
		assert.NotEqual(t, "kwok.x-k8s.io/node", tol.Key)
	}
	c := one(t, spec.Containers, "device plugin container")
	assert.Equal(t, wantImage, c.Image, "the image internal/images builds")
	flags := flagValues(t, ds.Name, c.Args)
	for f := range flags {
		assert.Contains(t, []string{"node-name", "simulation-model", "devices", "device-plugin-path", "poll-interval"}, f,
			"--%s is not a flag of fake-gpu-device-plugin", f)
	}
	assert.Equal(t, "$(NODE_NAME)", flags["node-name"], "--node-name from the NODE_NAME env")
	env, ok := envValue(c, "NODE_NAME")
	require.True(t, ok, "NODE_NAME env")
	require.NotNil(t, env.ValueFrom)
	require.NotNil(t, env.ValueFrom.FieldRef)
	assert.Equal(t, "spec.nodeName", env.ValueFrom.FieldRef.FieldPath, "NODE_NAME from the downward API")
	assert.Equal(t, devicePluginFolder, flags["device-plugin-path"])
	devices, err := strconv.Atoi(flags["devices"])
	require.NoError(t, err)
	cfg := deviceplugin.Config{NodeName: "node-a", Model: flags["simulation-model"], Devices: devices, Dir: flags["device-plugin-path"]}
	require.NoError(t, cfg.Validate(), "the device plugin refuses the chart's args")
	ids, err := cfg.DeviceIDs()
	require.NoError(t, err)
	assert.Len(t, ids, 24, "the sandbox's node advertises 24 GPUs")
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.MountPath == devicePluginFolder {
			mounted = true
		}
	}
	assert.True(t, mounted, "the device-plugin folder is mounted where --device-plugin-path points")
}

// TestDevicePluginMatchesTheExporter: where a ready values file of charts/gpu-services turns the fake device
// plugin on, the values file of the umbrella chart for the same cluster simulates the same GPUs: the device
// plugin's IDs are the exporter's simulated UUIDs only for the same model and count.
func TestDevicePluginMatchesTheExporter(t *testing.T) {
	t.Parallel()
	for _, f := range gpuServicesValuesFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			dss := typedOf[*appsv1.DaemonSet](decodeAll(t, render(t, renderRequest{chart: "gpu-services", valuesFiles: []string{f}})))
			if len(dss) == 0 {
				return
			}
			umbrella := filepath.Join("values", filepath.Base(f))
			exp := one(t, typedOf[*appsv1.DaemonSet](decodeAll(t, render(t, renderRequest{valuesFiles: []string{umbrella}}))), "exporter DaemonSet")
			plugin := flagValues(t, f, dss[0].Spec.Template.Spec.Containers[0].Args)
			exporterArgs := exp.Spec.Template.Spec.Containers[0].Args
			backend, _ := argValue(exporterArgs, "--backend")
			require.Equal(t, "simulated", backend, "%s: a fake device plugin needs the exporter's simulated backend", umbrella)
			model, _ := argValue(exporterArgs, "--simulation-model")
			assert.Equal(t, model, plugin["simulation-model"], "devicePlugin.simulationModel (%s) = exporter.simulation.model (%s)", f, umbrella)
			count := func(v string, ok bool) int {
				if !ok || v == "" || v == "0" {
					return 8 // the model's own
				}
				n, err := strconv.Atoi(v)
				require.NoError(t, err)
				return n
			}
			gpus, ok := argValue(exporterArgs, "--simulation-gpus")
			assert.Equal(t, count(gpus, ok), count(plugin["devices"], true),
				"devicePlugin.devices (%s) = exporter.simulation.gpuCount (%s)", f, umbrella)
		})
	}
}

// TestImageReferencesMatchTheImageBuilder: every image a chart owns (internal/images' catalog says which)
// is the reference its default render uses, and every image any ready values file renders is one the
// builder makes. The charts are the single source of the tags; the builder reads them, and this test
// keeps the two from disagreeing.
func TestImageReferencesMatchTheImageBuilder(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	built := map[string]string{} // reference -> image name
	for _, s := range images.Catalog() {
		ref, err := images.Reference(root, s.Name)
		require.NoError(t, err, s.Name)
		built[ref] = s.Name
	}
	containerImages := func(t *testing.T, req renderRequest) map[string][]string {
		t.Helper()
		out := map[string][]string{}
		for owner, tpl := range podTemplates(decodeAll(t, render(t, req))) {
			for _, c := range append(append([]corev1.Container{}, tpl.Spec.InitContainers...), tpl.Spec.Containers...) {
				out[c.Image] = append(out[c.Image], owner)
			}
		}
		return out
	}
	umbrella := renderRequest{}
	services := renderRequest{chart: "gpu-services", set: map[string]string{"devicePlugin.enabled": "true"}}
	defaults := map[string]map[string][]string{
		"charts/gpu-autoscaling": containerImages(t, umbrella),
		"charts/gpu-services":    containerImages(t, services),
	}
	for _, s := range images.Catalog() {
		if s.Ref.Chart == "" {
			// pause: containerd's sandbox image, referenced by the node's CRI config, not by a chart.
			continue
		}
		ref, _ := images.Reference(root, s.Name)
		var rendered map[string][]string
		for chart, imgs := range defaults {
			if s.Ref.Chart == chart || strings.HasPrefix(s.Ref.Chart, chart+"/") {
				rendered = imgs
			}
		}
		require.NotNil(t, rendered, "%s: catalog chart %s is not rendered here", s.Name, s.Ref.Chart)
		assert.Contains(t, rendered, ref, "%s: the builder tags %s, but %s's default render does not use it (it uses %v)",
			s.Name, ref, s.Ref.Chart, keys(rendered))
	}
	reqs := []renderRequest{umbrella, services}
	for _, f := range valuesFiles(t) {
		reqs = append(reqs, renderRequest{valuesFiles: []string{f}})
	}
	for _, f := range gpuServicesValuesFiles(t) {
		reqs = append(reqs, renderRequest{chart: "gpu-services", valuesFiles: []string{f}, set: services.set})
	}
	for _, req := range reqs {
		for img, owners := range containerImages(t, req) {
			_, ok := built[img]
			assert.True(t, ok, "%v (chart %q, values %v) runs %s, which internal/images does not build (it builds %v)",
				owners, req.chart, req.valuesFiles, img, keys(built))
		}
	}
}
