package sandbox

import (
	"reflect"
	"testing"
)

func TestRewriteArgs(t *testing.T) {
	mounts := map[string]string{
		"/etc/adapter":                   "/s/gpu/adapter/config",
		"/var/run/serving-cert":          "/s/gpu/adapter/serving-cert",
		"/tmp":                           "/s/gpu/adapter/tmp",
		"/var/lib/kubelet/pod-resources": "/s/gpu/gpu-node-0/pod-resources",
	}
	in := []string{
		"--secure-port=6443",
		"--tls-cert-file=/var/run/serving-cert/tls.crt",
		"--config=/etc/adapter/config.yaml",
		"--cert-dir=/tmp/cert",
		"--pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock",
		"--prometheus-url=http://prometheus:9090",
		"--proc-path=/proc",
		"--tmpdir=/tmpfoo/x", // a prefix match on the name only must not be rewritten
		"-v",
	}
	want := []string{
		"--secure-port=6443",
		"--tls-cert-file=/s/gpu/adapter/serving-cert/tls.crt",
		"--config=/s/gpu/adapter/config/config.yaml",
		"--cert-dir=/s/gpu/adapter/tmp/cert",
		"--pod-resources-socket=/s/gpu/gpu-node-0/pod-resources/kubelet.sock",
		"--prometheus-url=http://prometheus:9090",
		"--proc-path=/proc",
		"--tmpdir=/tmpfoo/x",
		"-v",
	}
	if got := rewriteArgs(in, mounts); !reflect.DeepEqual(got, want) {
		t.Errorf("rewriteArgs:\n got %q\nwant %q", got, want)
	}
}

func TestSetArgAndArgValue(t *testing.T) {
	args := []string{"--a=1", "--b", "--c=3"}
	args = setArg(args, "a", "10")
	args = setArg(args, "b", "20")
	args = setArg(args, "d", "40")
	want := []string{"--a=10", "--b=20", "--c=3", "--d=40"}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("setArg: got %q, want %q", args, want)
	}
	if v := argValue(args, "c"); v != "3" {
		t.Errorf("argValue(c) = %q, want 3", v)
	}
	if v := argValue(args, "e"); v != "" {
		t.Errorf("argValue(e) = %q, want empty", v)
	}
}

func TestGPUUUIDIsAValidDeviceID(t *testing.T) {
	// The exporter's simulation file accepts "GPU-" + letters, digits, '-'.
	for _, id := range []string{GPUUUID("gpu-node-0", 0), GPUUUID("gpu-node-12", 7)} {
		if len(id) > 96 || id[:4] != "GPU-" {
			t.Errorf("%q is not a GPU UUID", id)
		}
		for _, r := range id {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				t.Errorf("%q has %q", id, r)
			}
		}
	}
	if GPUUUID("gpu-node-0", 1) == GPUUUID("gpu-node-1", 0) {
		t.Error("UUIDs collide across nodes")
	}
}
