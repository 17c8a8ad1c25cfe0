// Package gpu reads per-device GPU metrics through go-nvml's nvml.Interface.
//
// The same Reader serves the real library (nvml.New()) and the simulated
// backend (a go-nvml mock server), so the production code path is exercised by
// demos, the sandbox and the tests alike.
package gpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Reading is one device's metrics from one collection.
type Reading struct {
	Index int
	UUID  string
	Model string
	// UtilizationPercent is the average of the NVML utilization samples taken
	// since the previous collection (UtilizationSamples > 0) or, where the
	// device has no sample buffer, the instantaneous reading
	// (UtilizationSamples == 0). Only meaningful when HasUtilization is true.
	UtilizationPercent float64
	UtilizationSamples int
	HasUtilization     bool
	MemoryUsedBytes    uint64
	MemoryTotalBytes   uint64
	TemperatureCelsius float64
	// MIGDevices lists the MIG devices carved out of this GPU, so
	// pod-resources allocations of MIG devices map to their parent and each
	// holder reports its own instance's memory.
	MIGDevices []MIGDevice
	// Processes is the per-process use of the GPU since the previous
	// collection, read only when the Reader has per-process reading on
	// (WithProcesses) and the GPU is not MIG-enabled; ProcessesErr says why
	// it is missing otherwise (empty when per-process reading is off).
	Processes    []Process
	HasProcesses bool
	ProcessesErr string
}

// MIGDevice is one MIG device (GPU instance + compute instance) of a GPU.
// HasMemory is false when NVML could not read its memory (a partial error
// of the parent says why).
type MIGDevice struct {
	UUID             string
	MemoryUsedBytes  uint64
	MemoryTotalBytes uint64
	HasMemory        bool
}

// DeviceError records why one device's series were dropped (or, for
// Partial errors, why one of its series was).
type DeviceError struct {
	Index   int
	UUID    string
	Reason  string
	Partial bool
	Err     error
}

func (e DeviceError) Error() string {
	return fmt.Sprintf("gpu %d (%s): %v", e.Index, e.UUID, e.Err)
}

// Result is one collection over all devices.
type Result struct {
	Devices []Reading
	Errors  []DeviceError
}

// InitError is returned while NVML cannot be initialised (for example when
// libnvidia-ml.so.1 is not installed on the node).
type InitError struct {
	Ret nvml.Return
}

func (e *InitError) Error() string {
	if e.Ret == nvml.ERROR_LIBRARY_NOT_FOUND {
		return "initialise NVML: libnvidia-ml.so.1 not found (is the NVIDIA driver installed and the library mounted into the container?): " + e.Ret.Error()
	}
	return "initialise NVML: " + e.Ret.Error()
}

// Reason is a short label value for the error counter.
func (e *InitError) Reason() string { return "init_" + Reason(e.Ret) }

// Reason maps an NVML return code to a stable, low-cardinality label value.
func Reason(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_GPU_IS_LOST:
		return "gpu_lost"
	case nvml.ERROR_NOT_SUPPORTED:
		return "not_supported"
	case nvml.ERROR_NO_PERMISSION:
		return "no_permission"
	case nvml.ERROR_TIMEOUT:
		return "timeout"
	case nvml.ERROR_UNINITIALIZED:
		return "uninitialized"
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "library_not_found"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "driver_not_loaded"
	case nvml.ERROR_RESET_REQUIRED:
		return "reset_required"
	default:
		return "nvml_error"
	}
}

// Reader collects device readings. It is not safe for concurrent use: one
// collection loop owns it.
type Reader struct {
	lib         nvml.Interface
	window      time.Duration
	now         func() time.Time
	initialized bool
	// lastSeen is the newest utilization sample timestamp (µs) consumed per
	// device UUID, so each collection averages only new samples.
	lastSeen map[string]uint64
	// processes, when set, reads per-process use of every non-MIG GPU.
	processes *ProcessReader
	// instantaneous reports GPU utilization from one reading at collection
	// time instead of averaging the samples since the last collection.
	instantaneous bool
}

// NewReader returns a Reader over lib. window is the collection interval: the
// first collection of a device averages the samples of the last window.
func NewReader(lib nvml.Interface, window time.Duration) *Reader {
	return &Reader{lib: lib, window: window, now: time.Now, lastSeen: map[string]uint64{}}
}

// WithProcesses turns per-process reading on (Reading.Processes): NVML's
// per-process utilization samples and running processes of each GPU.
func (r *Reader) WithProcesses() *Reader {
	r.processes = NewProcessReader()
	return r
}

// WithInstantaneousUtilization reports GPU utilization as one reading taken
// at collection time (nvmlDeviceGetUtilizationRates), the way dcgm-exporter
// and nvidia-smi based exporters read it, instead of the average of NVML's
// samples since the previous collection. For comparison: on bursty load it
// makes HPAs flap (Reading.UtilizationSamples is then 0).
func (r *Reader) WithInstantaneousUtilization() *Reader {
	r.instantaneous = true
	return r
}

// Initialized reports whether NVML was initialised successfully.
func (r *Reader) Initialized() bool { return r.initialized }

// Init initialises NVML if it is not yet initialised. It is retried by
// Collect, so a driver installed after the exporter started is picked up.
func (r *Reader) Init() error {
	if r.initialized {
		return nil
	}
	if ret := r.lib.Init(); ret != nvml.SUCCESS {
		return &InitError{Ret: ret}
	}
	r.initialized = true
	return nil
}

// Shutdown releases NVML. It only calls nvml.Shutdown after a successful
// Init: calling it after a failed Init aborts the process with a symbol lookup
// error when the library is absent.
func (r *Reader) Shutdown() error {
	if !r.initialized {
		return nil
	}
	r.initialized = false
	if ret := r.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("shut down NVML: %w", ret)
	}
	return nil
}

// Collect reads every device. A device whose calls fail is left out of
// Devices and reported in Errors; the error return is only for failures that
// affect all devices (initialisation, device count).
func (r *Reader) Collect() (Result, error) {
	if err := r.Init(); err != nil {
		return Result{}, err
	}
	count, ret := r.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return Result{}, fmt.Errorf("count NVML devices: %w", ret)
	}
	res := Result{Devices: make([]Reading, 0, count)}
	seen := make(map[string]struct{}, count)
	for i := 0; i < count; i++ {
		reading, errs := r.readDevice(i)
		res.Errors = append(res.Errors, errs...)
		if reading != nil {
			res.Devices = append(res.Devices, *reading)
			seen[reading.UUID] = struct{}{}
		}
	}
	for uuid := range r.lastSeen {
		if _, ok := seen[uuid]; !ok {
			delete(r.lastSeen, uuid)
		}
	}
	if r.processes != nil {
		for uuid := range r.processes.lastSeen {
			if _, ok := seen[uuid]; !ok {
				delete(r.processes.lastSeen, uuid)
			}
		}
	}
	return res, nil
}

func (r *Reader) readDevice(index int) (*Reading, []DeviceError) {
	fail := func(uuid, what string, ret nvml.Return) (*Reading, []DeviceError) {
		return nil, []DeviceError{{Index: index, UUID: uuid, Reason: Reason(ret), Err: fmt.Errorf("%s: %w", what, ret)}}
	}
	dev, ret := r.lib.DeviceGetHandleByIndex(index)
	if ret != nvml.SUCCESS {
		return fail("", "get device handle", ret)
	}
	uuid, ret := dev.GetUUID()
	if ret != nvml.SUCCESS {
		return fail("", "get UUID", ret)
	}
	name, ret := dev.GetName()
	if ret != nvml.SUCCESS {
		return fail(uuid, "get name", ret)
	}
	reading := &Reading{Index: index, UUID: uuid, Model: name}
	var errs []DeviceError

	var migEnabled bool
	reading.MIGDevices, migEnabled = migDevices(dev)
	for _, m := range reading.MIGDevices {
		if !m.HasMemory {
			errs = append(errs, DeviceError{Index: index, UUID: uuid, Reason: "mig_memory", Partial: true,
				Err: fmt.Errorf("get memory info of MIG device %s: its holder reports the whole GPU's memory", m.UUID)})
		}
	}

	util, samples, ret := r.utilization(dev, uuid)
	switch {
	case ret == nvml.SUCCESS:
		reading.UtilizationPercent, reading.UtilizationSamples, reading.HasUtilization = util, samples, true
	case ret == nvml.ERROR_NOT_SUPPORTED && migEnabled:
		// NVML does not report whole-GPU utilization while MIG is enabled;
		// keep the memory and temperature series.
		errs = append(errs, DeviceError{Index: index, UUID: uuid, Reason: Reason(ret), Partial: true,
			Err: fmt.Errorf("get utilization of MIG-enabled GPU: %w", ret)})
	default:
		return fail(uuid, "get utilization", ret)
	}

	used, total, ret := memoryInfo(dev)
	if ret != nvml.SUCCESS {
		return fail(uuid, "get memory info", ret)
	}
	reading.MemoryUsedBytes, reading.MemoryTotalBytes = used, total

	temp, ret := dev.GetTemperature(nvml.TEMPERATURE_GPU)
	if ret != nvml.SUCCESS {
		return fail(uuid, "get temperature", ret)
	}
	reading.TemperatureCelsius = float64(temp)
	r.readProcesses(dev, reading, migEnabled)
	return reading, errs
}

// readProcesses fills reading's per-process use when per-process reading is
// on. MIG-enabled GPUs report no per-process utilization: they fall back.
func (r *Reader) readProcesses(dev nvml.Device, reading *Reading, migEnabled bool) {
	if r.processes == nil {
		return
	}
	if migEnabled {
		reading.ProcessesErr = "mig"
		return
	}
	var since uint64
	if s := r.now().Add(-r.window).UnixMicro(); s > 0 {
		since = uint64(s)
	}
	procs, err := r.processes.Read(dev, reading.UUID, since)
	if err != nil {
		var ret nvml.Return
		reading.ProcessesErr = "nvml_error"
		if errors.As(err, &ret) {
			reading.ProcessesErr = Reason(ret)
		}
		return
	}
	reading.Processes, reading.HasProcesses = procs, true
}

// utilization averages the GPU utilization samples NVML buffered since the
// last collection; it falls back to the instantaneous reading when the device
// keeps no samples (samples == 0), and reads only that with
// WithInstantaneousUtilization.
func (r *Reader) utilization(dev nvml.Device, uuid string) (float64, int, nvml.Return) {
	if !r.instantaneous {
		last, ok := r.lastSeen[uuid]
		if !ok {
			since := r.now().Add(-r.window).UnixMicro()
			if since > 0 {
				last = uint64(since)
			}
		}
		valType, samples, ret := dev.GetSamples(nvml.GPU_UTILIZATION_SAMPLES, last)
		if ret == nvml.ERROR_GPU_IS_LOST {
			return 0, 0, ret
		}
		if ret == nvml.SUCCESS {
			if avg, n, newest := averageSamples(valType, samples, last); n > 0 {
				r.lastSeen[uuid] = newest
				return avg, n, nvml.SUCCESS
			}
		}
	}
	rates, ret := dev.GetUtilizationRates()
	if ret != nvml.SUCCESS {
		return 0, 0, ret
	}
	return float64(rates.Gpu), 0, nvml.SUCCESS
}

// averageSamples averages the samples newer than after and returns their
// count and the newest timestamp.
func averageSamples(valType nvml.ValueType, samples []nvml.Sample, after uint64) (float64, int, uint64) {
	var sum float64
	n := 0
	newest := after
	for _, s := range samples {
		if s.TimeStamp <= after {
			continue
		}
		v, ok := decodeValue(valType, s.SampleValue)
		if !ok {
			return 0, 0, after
		}
		sum += v
		n++
		if s.TimeStamp > newest {
			newest = s.TimeStamp
		}
	}
	if n == 0 {
		return 0, 0, after
	}
	return sum / float64(n), n, newest
}

// decodeValue reads an nvmlValue_t union (little-endian on every platform
// NVML ships for) as the given type.
func decodeValue(t nvml.ValueType, v [8]byte) (float64, bool) {
	switch t {
	case nvml.VALUE_TYPE_DOUBLE:
		return math.Float64frombits(binary.LittleEndian.Uint64(v[:])), true
	case nvml.VALUE_TYPE_UNSIGNED_INT:
		return float64(binary.LittleEndian.Uint32(v[:4])), true
	case nvml.VALUE_TYPE_UNSIGNED_LONG, nvml.VALUE_TYPE_UNSIGNED_LONG_LONG:
		return float64(binary.LittleEndian.Uint64(v[:])), true
	case nvml.VALUE_TYPE_SIGNED_LONG_LONG:
		return float64(int64(binary.LittleEndian.Uint64(v[:]))), true
	case nvml.VALUE_TYPE_SIGNED_INT:
		return float64(int32(binary.LittleEndian.Uint32(v[:4]))), true
	case nvml.VALUE_TYPE_UNSIGNED_SHORT:
		return float64(binary.LittleEndian.Uint16(v[:2])), true
	default:
		return 0, false
	}
}

// EncodeUint32Sample builds a sample value as NVML stores an unsigned int; the
// simulated backend and tests use it.
func EncodeUint32Sample(v uint32) [8]byte {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:4], v)
	return b
}

// memoryInfo prefers memory info v2 (which separates reserved memory) and
// falls back to v1 where the driver does not support v2.
func memoryInfo(dev nvml.Device) (used, total uint64, ret nvml.Return) {
	m2, ret := dev.GetMemoryInfo_v2()
	if ret == nvml.SUCCESS {
		return m2.Used, m2.Total, ret
	}
	if ret != nvml.ERROR_NOT_SUPPORTED && ret != nvml.ERROR_FUNCTION_NOT_FOUND && ret != nvml.ERROR_ARGUMENT_VERSION_MISMATCH {
		return 0, 0, ret
	}
	m1, ret := dev.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return 0, 0, ret
	}
	return m1.Used, m1.Total, ret
}

// migDevices lists the MIG devices of a MIG-enabled GPU with their memory;
// it returns nil when MIG is disabled or unsupported, and whether MIG is
// enabled.
func migDevices(dev nvml.Device) ([]MIGDevice, bool) {
	current, _, ret := dev.GetMigMode()
	if ret != nvml.SUCCESS || current != nvml.DEVICE_MIG_ENABLE {
		return nil, false
	}
	maxCount, ret := dev.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		return nil, true
	}
	var out []MIGDevice
	for i := 0; i < maxCount; i++ {
		mig, ret := dev.GetMigDeviceHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		uuid, ret := mig.GetUUID()
		if ret != nvml.SUCCESS {
			continue
		}
		m := MIGDevice{UUID: uuid}
		if used, total, ret := memoryInfo(mig); ret == nvml.SUCCESS {
			m.MemoryUsedBytes, m.MemoryTotalBytes, m.HasMemory = used, total, true
		}
		out = append(out, m)
	}
	return out, true
}

// IsLibraryMissing reports whether err says libnvidia-ml could not be loaded.
func IsLibraryMissing(err error) bool {
	var ie *InitError
	return errors.As(err, &ie) && ie.Ret == nvml.ERROR_LIBRARY_NOT_FOUND
}
