package simulated

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// IdleTemperatureCelsius is reported for GPUs the simulation file omits.
const IdleTemperatureCelsius = 30

// MaxTemperatureCelsius bounds temperatureCelsius in the simulation file.
const MaxTemperatureCelsius = 120

// File is the simulation file written by the sandbox or a demo load model.
type File struct {
	GPUs []GPU `json:"gpus"`
}

// GPU is one simulated device's state. Pointers distinguish "absent" from 0.
type GPU struct {
	Index              *int     `json:"index"`
	UUID               string   `json:"uuid,omitempty"`
	UtilizationPercent *float64 `json:"utilizationPercent,omitempty"`
	MemoryUsedMB       *uint64  `json:"memoryUsedMB,omitempty"`
	TemperatureCelsius *float64 `json:"temperatureCelsius,omitempty"`
}

// State is the validated value of one device.
type State struct {
	UUID               string // empty: keep the device's own UUID
	UtilizationPercent uint32
	MemoryUsedMB       uint64
	TemperatureCelsius uint32
}

// Limits are the properties of the simulated model a file is checked against.
type Limits struct {
	Devices       int
	MemoryTotalMB uint64
}

// Parse validates a simulation file against the model's limits and returns
// the state of every device (index 0..Devices-1); devices the file does not
// list are idle. Errors name the offending entry and what to change.
func Parse(data []byte, lim Limits) ([]State, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("parse simulation file (expected `gpus: [{index, uuid, utilizationPercent, memoryUsedMB, temperatureCelsius}]`): %w", err)
	}
	states := make([]State, lim.Devices)
	for i := range states {
		states[i] = State{TemperatureCelsius: IdleTemperatureCelsius}
	}
	seenIndex := make(map[int]int, len(f.GPUs))
	seenUUID := make(map[string]int, len(f.GPUs))
	var errs []error
	for pos, g := range f.GPUs {
		where := fmt.Sprintf("gpus[%d]", pos)
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
			errs = append(errs, fmt.Errorf("%s: index %d is already used by gpus[%d]", where, idx, prev))
			continue
		}
		seenIndex[idx] = pos
		st := State{TemperatureCelsius: IdleTemperatureCelsius}
		if g.UUID != "" {
			if err := validUUID(g.UUID); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			} else if prev, dup := seenUUID[g.UUID]; dup {
				errs = append(errs, fmt.Errorf("%s: uuid %q is already used by gpus[%d]", where, g.UUID, prev))
			} else {
				seenUUID[g.UUID] = pos
				st.UUID = g.UUID
			}
		}
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
		states[idx] = st
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid simulation file: %w", errors.Join(errs...))
	}
	return states, nil
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
