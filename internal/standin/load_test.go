package standin

import (
	"strings"
	"testing"
)

func TestParseLoads(t *testing.T) {
	loads, err := ParseLoads([]byte(`
services:
  gpu-management-service: {cpuMillicores: 700, memoryMiB: 256.5}
  embedding-service:
    cpuMillicores: 12.5
  reranking-service: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Load{
		"gpu-management-service": {CPUMillicores: 700, MemoryMiB: 256.5},
		"embedding-service":      {CPUMillicores: 12.5},
		"reranking-service":      {},
	}
	if len(loads) != len(want) {
		t.Fatalf("loads %v, want %v", loads, want)
	}
	for k, v := range want {
		if loads[k] != v {
			t.Errorf("%s: %+v, want %+v", k, loads[k], v)
		}
	}
	for _, empty := range []string{"", "\n", "# no load\n", "services:\n", "services: {}\n"} {
		if loads, err := ParseLoads([]byte(empty)); err != nil || len(loads) != 0 {
			t.Errorf("ParseLoads(%q) = %v, %v: want no services", empty, loads, err)
		}
	}
}

func TestParseLoadsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string // substrings of the error
	}{
		{"not yaml", "services: {a: [", []string{"not valid YAML", "write services:"}},
		{"list", "- a\n", []string{"line 1", "not a mapping", "write services:"}},
		{"unknown top key", "service: {}\n", []string{`unknown key "service"`, "only top-level key is services"}},
		{"services is a list", "services: [a]\n", []string{"services is not a mapping"}},
		{"entry is a number", "services: {embedding-service: 5}\n", []string{"services.embedding-service is not a mapping", "write {cpuMillicores:"}},
		{"misspelt field", "services:\n  embedding-service:\n    cpuMilicores: 5\n", []string{"line 3", "services.embedding-service", `unknown field "cpuMilicores"`, "cpuMillicores and memoryMiB"}},
		{"negative", "services: {gpu-management-service: {cpuMillicores: -5}}\n", []string{"services.gpu-management-service.cpuMillicores is -5", "write a number ≥ 0 (millicores per pod)"}},
		{"string", "services: {a: {memoryMiB: \"100\"}}\n", []string{"services.a.memoryMiB", `is "100", not a number`, "(MiB per pod)"}},
		{"unit suffix", "services: {a: {memoryMiB: 100Mi}}\n", []string{"services.a.memoryMiB", "not a number"}},
		{"nan", "services: {a: {cpuMillicores: .nan}}\n", []string{"services.a.cpuMillicores is .nan"}},
		{"infinite", "services: {a: {cpuMillicores: .inf}}\n", []string{"services.a.cpuMillicores is .inf"}},
		{"null value", "services: {a: {cpuMillicores: }}\n", []string{"services.a.cpuMillicores", "not a number"}},
		{"duplicate field", "services: {a: {cpuMillicores: 1, cpuMillicores: 2}}\n", []string{"services.a.cpuMillicores is set twice"}},
		{"duplicate service", "services:\n  a: {}\n  a: {}\n", []string{`service "a" is listed twice`}},
		{"two documents", "services: {}\n---\nservices: {}\n", []string{"more than one YAML document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLoads([]byte(tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
