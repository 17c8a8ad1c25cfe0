// Package standin is the stand-in GPU service of the sandbox's real node: a
// small HTTP service whose CPU and memory the kubelet and cAdvisor actually
// measure, so the HPAs that scale on CPU or memory utilization see real
// usage. Each pod reads its share of a simulated load from a file (a mounted
// ConfigMap) and burns that much CPU in a duty cycle and holds that much
// resident memory in a ballast. It also answers a tiny "inference" request
// and exposes Prometheus metrics, including the service_requests_total and
// service_response_time_seconds series the chart's dashboards and adapter
// rules use.
package standin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"gopkg.in/yaml.v3"
)

// Load is one pod's share of the simulated work.
type Load struct {
	CPUMillicores float64 // CPU to burn, in millicores
	MemoryMiB     float64 // resident memory to hold, in MiB
}

// loadHint is how a load file looks; parse errors end with it.
const loadHint = "services: {<service>: {cpuMillicores: <millicores per pod>, memoryMiB: <MiB per pod>}}"

// ParseLoads parses a load file strictly:
//
//	services:
//	  <service-name>: {cpuMillicores: <float ≥ 0>, memoryMiB: <float ≥ 0>}
//
// Values are per pod; an omitted field is 0. An empty file has no services.
// Errors give the line, name the service and field, and say what to write.
func ParseLoads(data []byte) (map[string]Load, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return map[string]Load{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("not valid YAML (%w): write %s", err, loadHint)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("more than one YAML document: write a single %s", loadHint)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the file is not a mapping: write %s", root.Line, loadHint)
	}
	loads := map[string]Load{}
	for i := 0; i < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		if key.Value != "services" {
			return nil, fmt.Errorf("line %d: unknown key %q: the only top-level key is services (%s)", key.Line, key.Value, loadHint)
		}
		if val.Tag == "!!null" {
			continue
		}
		if val.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("line %d: services is not a mapping: write %s", val.Line, loadHint)
		}
		if err := parseServices(val, loads); err != nil {
			return nil, err
		}
	}
	return loads, nil
}

func parseServices(node *yaml.Node, loads map[string]Load) error {
	for i := 0; i < len(node.Content); i += 2 {
		key, val := node.Content[i], node.Content[i+1]
		name := key.Value
		if key.Kind != yaml.ScalarNode || name == "" {
			return fmt.Errorf("line %d: a service name must be a non-empty string", key.Line)
		}
		if _, dup := loads[name]; dup {
			return fmt.Errorf("line %d: service %q is listed twice: keep one entry", key.Line, name)
		}
		load, err := parseService(name, val)
		if err != nil {
			return err
		}
		loads[name] = load
	}
	return nil
}

func parseService(name string, node *yaml.Node) (Load, error) {
	if node.Kind != yaml.MappingNode {
		return Load{}, fmt.Errorf("line %d: services.%s is not a mapping: write {cpuMillicores: <millicores per pod>, memoryMiB: <MiB per pod>}", node.Line, name)
	}
	var load Load
	seen := map[string]bool{}
	for i := 0; i < len(node.Content); i += 2 {
		key, val := node.Content[i], node.Content[i+1]
		var dst *float64
		var unit string
		switch key.Value {
		case "cpuMillicores":
			dst, unit = &load.CPUMillicores, "millicores per pod"
		case "memoryMiB":
			dst, unit = &load.MemoryMiB, "MiB per pod"
		default:
			return Load{}, fmt.Errorf("line %d: services.%s has unknown field %q: the fields are cpuMillicores and memoryMiB", key.Line, name, key.Value)
		}
		if seen[key.Value] {
			return Load{}, fmt.Errorf("line %d: services.%s.%s is set twice: keep one", key.Line, name, key.Value)
		}
		seen[key.Value] = true
		v, err := number(val)
		if err != nil {
			return Load{}, fmt.Errorf("line %d: services.%s.%s %v: write a number ≥ 0 (%s)", val.Line, name, key.Value, err, unit)
		}
		*dst = v
	}
	return load, nil
}

// number decodes a YAML scalar that must be a finite, non-negative int or
// float (a quoted "100" is a string, not a number).
func number(node *yaml.Node) (float64, error) {
	if node.Kind != yaml.ScalarNode || (node.Tag != "!!int" && node.Tag != "!!float") {
		return 0, fmt.Errorf("is %q, not a number", node.Value)
	}
	var v float64
	if err := node.Decode(&v); err != nil {
		return 0, fmt.Errorf("is %q, not a number", node.Value)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("is %s", node.Value)
	}
	return v, nil
}
