package images

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := FindRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestCatalogRefs: the references are the ones the charts' default values
// use, so that the images built here run them unchanged.
func TestCatalogRefs(t *testing.T) {
	root := repoRoot(t)
	want := map[string]string{
		"gpu-metrics-exporter":   "ghcr.io/medical-kg/gpu-metrics-exporter:0.1.0",
		"prometheus-adapter":     "registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0",
		"kube-state-metrics":     "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.15.0",
		"pause":                  "registry.k8s.io/pause:3.10",
		"gpu-service":            "ghcr.io/medical-kg/gpu-service:0.1.0",
		"fake-gpu-device-plugin": "ghcr.io/medical-kg/fake-gpu-device-plugin:0.1.0",
	}
	for _, s := range Catalog() {
		ref, err := Reference(root, s.Name)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if ref != want[s.Name] {
			t.Errorf("%s: ref %q, want %q", s.Name, ref, want[s.Name])
		}
	}
}

var (
	userRE = regexp.MustCompile(`^\d+(:\d+)?$`)
	portRE = regexp.MustCompile(`^\d+/(tcp|udp)$`)
)

// TestCatalogIsValid checks each image definition's own consistency.
func TestCatalogIsValid(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Catalog() {
		if seen[s.Name] {
			t.Errorf("two images called %s", s.Name)
		}
		seen[s.Name] = true
		if (s.Binary.Go == nil) == (s.Binary.Prebuilt == nil) {
			t.Errorf("%s: set exactly one of Binary.Go and Binary.Prebuilt", s.Name)
		}
		if !strings.HasPrefix(s.Binary.Install, "/") || !userRE.MatchString(s.User) || s.Licenses == "" || s.Description == "" {
			t.Errorf("%s: install %q, user %q, licenses %q, description %q", s.Name, s.Binary.Install, s.User, s.Licenses, s.Description)
		}
		for _, p := range s.Ports {
			if !portRE.MatchString(p) {
				t.Errorf("%s: port %q, want like 9400/tcp", s.Name, p)
			}
		}
		for _, p := range s.Packages {
			arch := "amd64"
			if p.ArchAll {
				arch = "all"
			}
			if len(p.SHA256[arch]) != 64 || p.Version == "" || p.License == "" || len(p.Paths) == 0 {
				t.Errorf("%s: package %+v lacks a version, %s SHA-256, license or paths", s.Name, p, arch)
			}
		}
	}
}

// dockerfileFinal returns the instructions of the Dockerfile's last stage,
// keyed by instruction, and that stage's base.
func dockerfileFinal(t *testing.T, path string) (string, map[string][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var from string
	ins := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, arg, _ := strings.Cut(line, " ")
		if cmd == "FROM" {
			from, ins = arg, map[string][]string{}
			continue
		}
		ins[cmd] = append(ins[cmd], arg)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return from, ins
}

// TestDockerfileMatchesCatalog: exporter/Dockerfile takes its file system
// from the builder (rootfs) and repeats the builder's config, which Docker
// cannot read from Go: user, working folder, port, environment, entrypoint.
func TestDockerfileMatchesCatalog(t *testing.T) {
	root := repoRoot(t)
	path := filepath.Join(root, "exporter", "Dockerfile")
	spec, _ := Lookup("gpu-metrics-exporter")
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "images rootfs --image "+spec.Name+" --out /rootfs") {
		t.Errorf("%s does not build its rootfs with `images rootfs --image %s --out /rootfs`", path, spec.Name)
	}
	from, ins := dockerfileFinal(t, path)
	cfg := imageConfig(spec, imageMeta{})
	var entrypoint []string
	if len(ins["ENTRYPOINT"]) == 1 {
		if err := json.Unmarshal([]byte(ins["ENTRYPOINT"][0]), &entrypoint); err != nil {
			t.Errorf("ENTRYPOINT: %v", err)
		}
	}
	var ports []string
	for _, p := range ins["EXPOSE"] {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		ports = append(ports, p)
	}
	got := map[string]any{"FROM": from, "COPY": ins["COPY"], "USER": ins["USER"], "WORKDIR": ins["WORKDIR"],
		"EXPOSE": ports, "ENV": ins["ENV"], "ENTRYPOINT": entrypoint}
	want := map[string]any{"FROM": "scratch", "COPY": []string{"--from=build /rootfs/ /"}, "USER": []string{cfg.User},
		"WORKDIR": []string{cfg.WorkingDir}, "EXPOSE": spec.Ports, "ENV": cfg.Env, "ENTRYPOINT": cfg.Entrypoint}
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s final stage %s: %v, want %v (internal/images/catalog.go)", path, k, got[k], want[k])
		}
	}
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, s := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResolveRef covers where repository and tag come from.
func TestResolveRef(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"c/Chart.yaml":       "version: 0.2.0\nappVersion: \"1.5\"\n",
		"c/values.yaml":      "image:\n  repository: reg.example.com/a\n  tag: \"\"\n",
		"t/Chart.yaml":       "version: 0.2.0\nappVersion: \"1.5\"\n",
		"t/values.yaml":      "image:\n  repository: reg.example.com/b\n  tag: \"9\"\n",
		"hub/Chart.yaml":     "version: 0.2.0\n",
		"hub/values.yaml":    "image:\n  repository: library/busybox\n",
		"norepo/Chart.yaml":  "version: 0.2.0\n",
		"norepo/values.yaml": "image: {}\n",
		"nested/Chart.yaml":  "version: 0.4.0\nappVersion: \"2.0\"\n",
		"nested/values.yaml": "image:\n  repository: reg.example.com/main\nplugin:\n  image:\n    repository: reg.example.com/plugin\n    tag: \"\"\n  other: {}\n",
	})
	for _, c := range []struct {
		src  RefSource
		want string
	}{
		{RefSource{Chart: "c"}, "reg.example.com/a:1.5"},
		{RefSource{Chart: "t"}, "reg.example.com/b:9"},
		{RefSource{Chart: "t", Tag: "x"}, "reg.example.com/b:x"},
		{RefSource{Chart: "t", Repository: "reg.example.com/own"}, "reg.example.com/own:1.5"},
		{RefSource{Chart: "t", Repository: "reg.example.com/own", TagField: "version"}, "reg.example.com/own:0.2.0"},
		{RefSource{Repository: "localhost:5000/x", Tag: "1"}, "localhost:5000/x:1"},
		{RefSource{Chart: "nested"}, "reg.example.com/main:2.0"},
		{RefSource{Chart: "nested", Values: "plugin.image"}, "reg.example.com/plugin:2.0"},
		{RefSource{Chart: "nested", Values: "plugin.image", TagField: "version"}, "reg.example.com/plugin:0.4.0"},
	} {
		got, err := resolveRef(root, c.src)
		if err != nil || got != c.want {
			t.Errorf("resolveRef(%+v) = %q, %v, want %q", c.src, got, err, c.want)
		}
	}
	for _, src := range []RefSource{
		{Chart: "hub"}, {Chart: "norepo"}, {Chart: "absent"}, {Repository: "reg.example.com/x"}, {Repository: "busybox", Tag: "1"},
		{Chart: "nested", Values: "plugin.other"}, {Chart: "nested", Values: "plugin.image.repository"}, {Chart: "nested", Values: "absent.image"},
	} {
		if got, err := resolveRef(root, src); err == nil {
			t.Errorf("resolveRef(%+v) = %q, want an error", src, got)
		}
	}
}
