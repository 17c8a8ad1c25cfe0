package simulated

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// IdleTemperatureCelsius is reported for GPUs the simulation file omits.
const IdleTemperatureCelsius = 30

// MaxTemperatureCelsius bounds temperatureCelsius in the simulation file.
const MaxTemperatureCelsius = 120

// File is the simulation file written by the sandbox or a demo load model.
// GPUs is the state of every node's GPUs; a node listed in Nodes uses its own
// section instead, so one file (one ConfigMap) can drive several nodes.
type File struct {
	GPUs  []GPU               `json:"gpus"`
	Nodes map[string]NodeFile `json:"nodes,omitempty"`
}

// NodeFile is one node's section of the simulation file.
type NodeFile struct {
	GPUs []GPU `json:"gpus"`
}

// GPU is one simulated device's state. Pointers distinguish "absent" from 0.
type GPU struct {
	Index              *int     `json:"index"`
	UUID               string   `json:"uuid,omitempty"`
	UtilizationPercent *float64 `json:"utilizationPercent,omitempty"`
	MemoryUsedMB       *uint64  `json:"memoryUsedMB,omitempty"`
	TemperatureCelsius *float64 `json:"temperatureCelsius,omitempty"`
	// BurstPeriodSeconds makes the GPU's load bursty: in every period it is
	// 100 % busy for utilizationPercent of the time and idle for the rest, so
	// its mean stays utilizationPercent while an instantaneous reading is 0 or
	// 100. Absent: a steady load.
	BurstPeriodSeconds *float64 `json:"burstPeriodSeconds,omitempty"`
}

// State is the validated value of one device.
type State struct {
	UUID               string // empty: keep the device's own UUID
	UtilizationPercent uint32
	MemoryUsedMB       uint64
	TemperatureCelsius uint32
	// BurstPeriod is 0 for a steady load.
	BurstPeriod time.Duration
}

// Bounds of burstPeriodSeconds: at least two NVML sample periods, so a burst
// is sampled at all, and at most an hour.
const (
	MinBurstPeriod = 2 * SamplePeriod
	MaxBurstPeriod = time.Hour
)

// Limits are the properties of the simulated model a file is checked against.
type Limits struct {
	Devices       int
	MemoryTotalMB uint64
}

// fileFormat is what a parse error reminds of.
const fileFormat = "expected `gpus: [{index, uuid, utilizationPercent, memoryUsedMB, temperatureCelsius, burstPeriodSeconds}]`, " +
	"optionally `nodes: {<node name>: {gpus: [...]}}`"

// Parse validates a simulation file against the model's limits and returns
// the top-level gpus: the state of every device (index 0..Devices-1) of the
// nodes without a section of their own; devices the file does not list are
// idle. The nodes sections are validated too. Errors name the offending entry
// and what to change.
func Parse(data []byte, lim Limits) ([]State, error) {
	defaults, _, err := parse(data, lim)
	return defaults, err
}

// ParseNode is Parse for one node: it returns the node's own section
// (nodes.<node>.gpus) when the file lists the node, else the top-level gpus.
// Every section is validated, not only the node's.
func ParseNode(data []byte, lim Limits, node string) ([]State, error) {
	defaults, nodes, err := parse(data, lim)
	if err != nil {
		return nil, err
	}
	if states, ok := nodes[node]; ok {
		return states, nil
	}
	return defaults, nil
}

// rawFile and rawNode are the file with its GPU entries undecoded, so each
// entry is decoded on its own and a bad key or type names its entry.
type rawFile struct {
	GPUs  []json.RawMessage          `json:"gpus"`
	Nodes map[string]json.RawMessage `json:"nodes"`
}

type rawNode struct {
	GPUs []json.RawMessage `json:"gpus"`
}

// parse validates every section: the top-level gpus and each node's.
func parse(data []byte, lim Limits) ([]State, map[string][]State, error) {
	var f rawFile
	jsonData, err := yaml.YAMLToJSONStrict(data)
	if err == nil {
		err = decodeStrict(jsonData, &f)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parse simulation file (%s): %w", fileFormat, err)
	}
	defaults, errs := parseGPUs("", f.GPUs, lim)
	names := make([]string, 0, len(f.Nodes))
	for name := range f.Nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	nodes := make(map[string][]State, len(names))
	for _, name := range names {
		where := fmt.Sprintf("nodes[%q]", name)
		if err := validNodeName(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		var n rawNode
		if err := decodeStrict(f.Nodes[name], &n); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (expected `{gpus: [...]}`)", where, err))
			continue
		}
		states, nodeErrs := parseGPUs(where+".", n.GPUs, lim)
		errs = append(errs, nodeErrs...)
		nodes[name] = states
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("invalid simulation file: %w", errors.Join(errs...))
	}
	return defaults, nodes, nil
}

// decodeStrict decodes JSON into v, rejecting keys v does not have. A value
// of the wrong type is reported by key and expected type, not by Go type.
func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("got %s, want %s", te.Value, expected(te.Type))
		}
		return fmt.Errorf("%s: got %s, want %s", te.Field, te.Value, expected(te.Type))
	}
	return err
}

// expected names a Go type as the YAML value it decodes from.
func expected(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Uint32, reflect.Uint64:
		return "a whole number >= 0"
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	default:
		return t.String()
	}
}

// parseGPUs validates one section's gpus; prefix names the section in errors
// ("" for the top level, `nodes["n"].` for a node's).
func parseGPUs(prefix string, entries []json.RawMessage, lim Limits) ([]State, []error) {
	states := make([]State, lim.Devices)
	for i := range states {
		states[i] = State{TemperatureCelsius: IdleTemperatureCelsius}
	}
	seenIndex := make(map[int]int, len(entries))
	seenUUID := make(map[string]int, len(entries))
	var errs []error
	for pos, raw := range entries {
		where := fmt.Sprintf("%sgpus[%d]", prefix, pos)
		var g GPU
		if err := decodeStrict(raw, &g); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (keys: index, uuid, utilizationPercent, memoryUsedMB, temperatureCelsius, burstPeriodSeconds)", where, err))
			continue
		}
		if g.Index == nil {
			errs = append(errs, fmt.Errorf("%s: index is required (0..%d)", where, lim.Devices-1))
			continue
		}
		idx := *g.Index
		if idx < 0 || idx >= lim.Devices {
			errs = append(errs, fmt.Errorf("%s: index %d is out of range: the simulated model has %d GPUs (0..%d)", where, idx, lim.Devices, lim.Devices-1))
			continue
		}
		if prev, dup := seenIndex[idx]; dup {
			errs = append(errs, fmt.Errorf("%s: index %d is already used by %sgpus[%d]", where, idx, prefix, prev))
			continue
		}
		seenIndex[idx] = pos
		uuid, err := entryUUID(g.UUID, prefix, seenUUID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		} else if uuid != "" {
			seenUUID[uuid] = pos
		}
		st, valueErrs := parseValues(where, g, lim)
		st.UUID = uuid
		errs = append(errs, valueErrs...)
		states[idx] = st
	}
	return states, errs
}

// entryUUID validates an entry's optional uuid; seen maps the uuids of the
// section (named by prefix, as in parseGPUs) to their entries.
func entryUUID(uuid, prefix string, seen map[string]int) (string, error) {
	if uuid == "" {
		return "", nil
	}
	if err := validUUID(uuid); err != nil {
		return "", err
	}
	if prev, dup := seen[uuid]; dup {
		return "", fmt.Errorf("uuid %q is already used by %sgpus[%d]", uuid, prefix, prev)
	}
	return uuid, nil
}

// parseValues validates the utilization, memory and temperature of one entry.
func parseValues(where string, g GPU, lim Limits) (State, []error) {
	st := State{TemperatureCelsius: IdleTemperatureCelsius}
	var errs []error
	if u := g.UtilizationPercent; u != nil {
		if !(*u >= 0 && *u <= 100) {
			errs = append(errs, fmt.Errorf("%s: utilizationPercent %v must be between 0 and 100", where, *u))
		} else {
			st.UtilizationPercent = uint32(*u + 0.5)
		}
	}
	if m := g.MemoryUsedMB; m != nil {
		if *m > lim.MemoryTotalMB {
			errs = append(errs, fmt.Errorf("%s: memoryUsedMB %d exceeds the model's %d MB", where, *m, lim.MemoryTotalMB))
		} else {
			st.MemoryUsedMB = *m
		}
	}
	if t := g.TemperatureCelsius; t != nil {
		if !(*t >= 0 && *t <= MaxTemperatureCelsius) {
			errs = append(errs, fmt.Errorf("%s: temperatureCelsius %v must be between 0 and %d", where, *t, MaxTemperatureCelsius))
		} else {
			st.TemperatureCelsius = uint32(*t + 0.5)
		}
	}
	if b := g.BurstPeriodSeconds; b != nil {
		period := time.Duration(*b * float64(time.Second))
		if !(period >= MinBurstPeriod && period <= MaxBurstPeriod) {
			errs = append(errs, fmt.Errorf("%s: burstPeriodSeconds %v must be between %v and %v (at least two NVML sample periods of %v)",
				where, *b, MinBurstPeriod.Seconds(), MaxBurstPeriod.Seconds(), SamplePeriod))
		} else {
			st.BurstPeriod = period
		}
	}
	return st, errs
}

// validUUID accepts what kubelet device plugins report as a GPU device ID.
func validUUID(u string) error {
	if !strings.HasPrefix(u, "GPU-") || len(u) < 5 || len(u) > 96 {
		return fmt.Errorf("uuid %q must look like a GPU UUID (\"GPU-\" followed by an identifier, at most 96 characters)", u)
	}
	for _, r := range u {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("uuid %q may contain only letters, digits and '-'", u)
		}
	}
	return nil
}

// validNodeName accepts Kubernetes node names (DNS-1123 subdomains), the
// values --node-name is set to from spec.nodeName.
func validNodeName(name string) error {
	const hint = "a node name is what --node-name / NODE_NAME is set to (spec.nodeName): " +
		"lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
	if name == "" || len(name) > 253 {
		return fmt.Errorf("node name %q: %s", name, hint)
	}
	for i, r := range name {
		alnum := r >= '0' && r <= '9' || r >= 'a' && r <= 'z'
		edge := i == 0 || i == len(name)-1
		if !alnum && (edge || r != '-' && r != '.') {
			return fmt.Errorf("node name %q: %s", name, hint)
		}
	}
	return nil
}
