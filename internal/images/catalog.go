package images

// The image table: the one place that says what each image contains. Image
// references come from the charts (RefSource) wherever a chart owns them.

// Debian bookworm packages, pinned by version and .deb SHA-256 (from
// `apt-cache show NAME=VERSION`). When a point release removes a version from
// the mirror, `apt-get download` fails: pin the version `apt-cache policy NAME`
// shows and its SHA256 here.
func libc6() Package {
	return Package{
		Name:    "libc6",
		Version: "2.36-9+deb12u14",
		SHA256: map[string]string{
			"amd64": "ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf",
		},
		// The shared libraries and the dynamic loader; no gconv modules
		// (iconv), no documentation but the copyright file.
		Paths:   []string{"lib/", "lib64/", "etc/ld.so.conf.d/", "usr/share/doc/libc6/copyright"},
		License: "LGPL-2.1-or-later",
	}
}

func caCertificates() Package {
	return Package{
		Name:    "ca-certificates",
		Version: "20230311+deb12u1",
		SHA256: map[string]string{
			"all": "0d5f444f594e48c1e16a41d8fc628a09b24c658916a1274025c2330f2a802bed",
		},
		ArchAll: true,
		Paths:   []string{"usr/share/doc/ca-certificates/copyright"},
		Bundle: &Bundle{From: "usr/share/ca-certificates/", Suffix: ".crt",
			To: "etc/ssl/certs/ca-certificates.crt"},
		License: "MPL-2.0",
	}
}

const (
	// umbrellaChart owns the project's home page (the source label) and
	// version (images without a chart of their own).
	umbrellaChart = "charts/gpu-autoscaling"
	nonroot       = "65532:65532"
)

// Catalog returns the image definitions, in build order. Each call returns a
// fresh table, which the caller may modify.
func Catalog() []Spec {
	pause := "registry.k8s.io/pause"
	return []Spec{
		{
			Name:        "gpu-metrics-exporter",
			Description: "GPU metrics exporter: NVML and kubelet pod-resources attribution, Prometheus metrics on :9400",
			Ref:         RefSource{Chart: umbrellaChart + "/charts/gpu-metrics-exporter"},
			Binary: Binary{Install: "/usr/local/bin/gpu-metrics-exporter", Go: &GoBuild{
				Package: "exporter/cmd/gpu-metrics-exporter", CGO: true,
				// go-nvml's headers use deprecated declarations.
				CFlags: "-O2 -g -Wno-deprecated-declarations",
				// grpcnotrace keeps grpc's unused x/net/trace (and html/template) out: -4 MB.
				Tags: []string{"grpcnotrace"}, VersionVar: "github.com/prometheus/common/version.Version",
			}},
			// glibc for cgo (go-nvml dlopen()s libnvidia-ml.so.1, which the NVIDIA
			// container toolkit injects and registers with ldconfig).
			Packages: []Package{libc6()},
			Files:    []Entry{fileEntry("etc/ld.so.conf", 0o644, "include /etc/ld.so.conf.d/*.conf\n")},
			Licenses: "Apache-2.0",
			User:     nonroot,
			Ports:    []string{"9400/tcp"},
			Env:      []string{"NVIDIA_DRIVER_CAPABILITIES=utility"},
		},
		{
			Name:        "prometheus-adapter",
			Description: "prometheus-adapter v0.12.0 (sigs.k8s.io/prometheus-adapter) serving custom.metrics.k8s.io, built from its pinned module",
			Ref:         RefSource{Chart: umbrellaChart + "/charts/custom-metrics-adapter"},
			// As upstream's image: /adapter, user 65534; the chart passes only args.
			Binary: Binary{Install: "/adapter", Prebuilt: &Prebuilt{File: "prometheus-adapter",
				Hint: "build it with `tools/cluster/build.sh bin adapter` (make images does)"}},
			// For a Prometheus behind HTTPS, as upstream's distroless/static base.
			Packages: []Package{caCertificates()},
			Licenses: "Apache-2.0",
			User:     "65534:65534",
		},
		{
			Name:        "kube-state-metrics",
			Description: "kube-state-metrics v2.15.0 (k8s.io/kube-state-metrics/v2) for the sandbox's Prometheus, built from its pinned module",
			// Upstream's reference: the sandbox runs it as kube-prometheus-stack does.
			Ref: RefSource{Repository: "registry.k8s.io/kube-state-metrics/kube-state-metrics", Tag: "v2.15.0"},
			// As upstream's image: /kube-state-metrics, user 65534.
			Binary: Binary{Install: "/kube-state-metrics", Prebuilt: &Prebuilt{File: "kube-state-metrics",
				Hint: "build it with `tools/cluster/build.sh bin kube-state-metrics` (make images does)"}},
			Licenses: "Apache-2.0",
			User:     "65534:65534",
			Ports:    []string{"8080/tcp", "8081/tcp"},
		},
		{
			Name:        "pause",
			Description: "Pod sandbox (pause) image: waits for SIGINT/SIGTERM and reaps children",
			// The reference containerd's CRI uses as sandbox_image.
			Ref:      RefSource{Repository: pause, Tag: "3.10"},
			Binary:   Binary{Install: "/pause", Go: &GoBuild{Package: "scripts/cmd/pause"}},
			Licenses: "Apache-2.0",
			User:     "65535:65535",
		},
		{
			Name:        "gpu-service",
			Description: "Stand-in GPU service for the gpu-services chart",
			// The chart's image.repository; its tag, else the chart's version.
			Ref: RefSource{Chart: "charts/gpu-services", TagField: "version"},
			Binary: Binary{Install: "/usr/local/bin/gpu-service", Go: &GoBuild{
				Package: "scripts/cmd/gpu-service", VersionVar: "main.version"}},
			Licenses: "Apache-2.0",
			User:     nonroot,
		},
		{
			Name:        "fake-gpu-device-plugin",
			Description: "Kubelet device plugin advertising simulated nvidia.com/gpu devices",
			// The gpu-services chart runs it (devicePlugin.enabled): its
			// devicePlugin.image.repository; its tag, else the chart's version.
			Ref: RefSource{Chart: "charts/gpu-services", Values: "devicePlugin.image", TagField: "version"},
			Binary: Binary{Install: "/usr/local/bin/fake-gpu-device-plugin", Go: &GoBuild{
				Package: "scripts/cmd/fake-gpu-device-plugin", VersionVar: "main.version"}},
			Licenses: "Apache-2.0",
			// Root: it serves a socket in the kubelet's root-owned
			// /var/lib/kubelet/device-plugins/ and dials the kubelet's there.
			User: "0:0",
		},
	}
}

// Lookup returns the catalog's image called name.
func Lookup(name string) (Spec, bool) { return find(Catalog(), name) }

func find(specs []Spec, name string) (Spec, bool) {
	for _, s := range specs {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}
