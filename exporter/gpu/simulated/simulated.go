// Package simulated is the exporter's demo/sandbox GPU backend: one of
// go-nvml's mock DGX servers whose utilization, memory and temperature
// functions (unset in the mocks) are served from a simulation file re-read on
// every collection.
package simulated

import (
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
)

// models build a mock server of a model with n GPUs (go-nvml's DGX mocks
// have 8; any count from 1 to simuuid.MaxDevices can be simulated).
var models = map[string]func(n int) *server.Server{
	"dgxa100": func(n int) *server.Server { return dgxa100.NewWithGPUs(gpus.Multiple(n, gpus.A100_SXM4_40GB)...) },
	"dgxh100": func(n int) *server.Server { return dgxh100.NewWithGPUs(gpus.Multiple(n, gpus.H100_SXM5_80GB)...) },
	"dgxh200": func(n int) *server.Server { return dgxh200.NewWithGPUs(gpus.Multiple(n, gpus.H200_SXM5_141GB)...) },
}

// Models lists the accepted --simulation-model values (simuuid owns the
// list; every model there has a builder here, which a test checks).
func Models() []string { return simuuid.Models() }

// SamplePeriod is how often the simulated devices take a utilization sample,
// as NVML does on data-center GPUs (every 1/6 s; older ones sample up to once
// a second).
const SamplePeriod = time.Second / 6

// samplesKept is how many utilization samples each device buffers, like the
// ring buffer NVML keeps per device: 42 s at SamplePeriod, so a collection
// interval up to that long averages every sample of its interval (a longer one
// averages its last 42 s).
const samplesKept = 256

// rebuildEvery bounds the memory the mocks' call recorders use: the mock
// server is rebuilt (same UUIDs, same state) after this many reloads.
const rebuildEvery = 1024

// MaxFileBytes caps the simulation file the simulator reads (1 MiB: room for
// hundreds of nodes of 8 GPUs).
const MaxFileBytes = 1 << 20

// Options configure a Simulator.
type Options struct {
	Model string // dgxa100, dgxh100 or dgxh200
	// Devices is the number of GPUs (0: the model's own count, 8); the node
	// looks like a larger server of the same GPUs.
	Devices int
	// NodeName seeds the devices' default UUIDs, so they are stable across
	// restarts, and selects the node's section of the simulation file.
	NodeName string
	// MIGDevices, when above zero, enables MIG on every GPU with that many
	// MIG devices (1..simuuid.MaxMIGDevices), each a 1g instance with an
	// eighth of the GPU's memory (1g.5gb on an A100 40 GB) and UUID
	// simuuid.MIGUUID of its GPU's. As NVML does for MIG-enabled GPUs, the
	// GPUs then report no utilization; the file's memoryUsedMB of a GPU is
	// spread evenly over its MIG devices (each capped at its size).
	MIGDevices int
	File       string // simulation file; empty means every GPU is idle
	// ReadFile and Now are for tests; nil means reading the file (at most
	// MaxFileBytes+1 bytes of it) and time.Now.
	ReadFile func(string) ([]byte, error)
	Now      func() time.Time
}

type sample struct {
	ts    uint64
	value uint32
}

// Simulator is an nvml.Interface backed by a go-nvml mock server.
type Simulator struct {
	nvml.Interface // the current mock server

	opts        Options
	newServer   func() *server.Server
	limits      Limits
	defaultUUID []string
	burstSeed   []uint64 // per device: seeds its bursts' offsets

	mu      sync.Mutex
	states  []State
	samples [][]sample
	lastTS  uint64
	reloads int
}

// New builds a Simulator and loads the simulation file once; an unreadable or
// invalid file is an error.
func New(opts Options) (*Simulator, error) {
	build, ok := models[opts.Model]
	if !ok {
		return nil, fmt.Errorf("unknown simulation model %q: use one of %v", opts.Model, Models())
	}
	if opts.Devices == 0 {
		opts.Devices = simuuid.Devices(opts.Model)
	}
	if opts.Devices < 1 || opts.Devices > simuuid.MaxDevices {
		return nil, fmt.Errorf("simulated GPU count %d: want 1..%d", opts.Devices, simuuid.MaxDevices)
	}
	if opts.MIGDevices < 0 || opts.MIGDevices > simuuid.MaxMIGDevices {
		return nil, fmt.Errorf("simulated MIG devices per GPU %d: want 0 (MIG off)..%d", opts.MIGDevices, simuuid.MaxMIGDevices)
	}
	n := opts.Devices
	newServer := func() *server.Server { return build(n) }
	if opts.ReadFile == nil {
		opts.ReadFile = readFileLimited
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Simulator{opts: opts, newServer: newServer}
	srv := newServer()
	s.limits = Limits{Devices: len(srv.Devices), MemoryTotalMB: srv.Devices[0].(*server.Device).Config.MemoryMB}
	s.defaultUUID = make([]string, len(srv.Devices))
	s.burstSeed = make([]uint64, len(srv.Devices))
	for i := range s.defaultUUID {
		s.defaultUUID[i] = simuuid.UUID(opts.NodeName, opts.Model, i)
		// GPU i of two nodes must not burst in step either.
		h := fnv.New64a()
		h.Write([]byte(s.defaultUUID[i]))
		s.burstSeed[i] = h.Sum64()
	}
	s.samples = make([][]sample, len(srv.Devices))
	s.states = make([]State, len(srv.Devices))
	for i := range s.states {
		s.states[i] = State{TemperatureCelsius: IdleTemperatureCelsius}
	}
	s.install(srv)
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Limits returns the model's device count and memory per device.
func (s *Simulator) Limits() Limits { return s.limits }

// Reload re-reads the simulation file and fills each device's sample buffer
// with the samples NVML would have taken since the previous Reload, one every
// SamplePeriod (the first Reload takes one), each the load the file
// describes at its time: the steady utilization, or for a bursty GPU 100 or 0
// by where the sample falls in its burst period. The file's state holds for
// the whole interval it is read for. On error the previous state is kept and
// the error returned.
func (s *Simulator) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloads++
	if s.reloads%rebuildEvery == 0 {
		s.install(s.newServer())
	}
	err := s.load()
	srv := s.Interface.(*server.Server)
	now := uint64(s.opts.Now().UnixMicro())
	stamps := sampleTimes(s.lastTS, now)
	s.lastTS = stamps[len(stamps)-1]
	for i, st := range s.states {
		d := srv.Devices[i].(*server.Device)
		id := s.defaultUUID[i]
		if st.UUID != "" {
			id = st.UUID
		}
		d.Lock()
		if d.UUID != id {
			// A different device from the reader's point of view: it
			// starts with an empty sample buffer.
			d.UUID = id
			s.samples[i] = s.samples[i][:0]
		}
		d.Unlock()
		buf := s.samples[i]
		for _, ts := range stamps {
			buf = append(buf, sample{ts: ts, value: st.utilizationAt(s.burstSeed[i], ts)})
		}
		if len(buf) > samplesKept {
			buf = append(buf[:0], buf[len(buf)-samplesKept:]...)
		}
		s.samples[i] = buf
	}
	return err
}

// load reads and validates the simulation file into s.states (the node's
// section when the file has one, else the top-level gpus); s.mu must be held
// (or s not yet shared).
func (s *Simulator) load() error {
	if s.opts.File == "" {
		return nil
	}
	data, err := s.opts.ReadFile(s.opts.File)
	if err != nil {
		return fmt.Errorf("read simulation file %s: %w", s.opts.File, err)
	}
	if len(data) > MaxFileBytes {
		size := "more than 1 MiB"
		if st, err := os.Stat(s.opts.File); err == nil {
			size = fmt.Sprintf("%d bytes", st.Size())
		}
		return fmt.Errorf("simulation file %s is %s, larger than the simulator's limit of %d bytes (1 MiB): "+
			"list only the nodes and GPUs to simulate (GPUs left out are idle)", s.opts.File, size, MaxFileBytes)
	}
	states, err := ParseNode(data, s.limits, s.opts.NodeName)
	if err != nil {
		return fmt.Errorf("%s: %w", s.opts.File, err)
	}
	s.states = states
	return nil
}

// install provides the device functions the mock leaves unset.
func (s *Simulator) install(srv *server.Server) {
	for i, dev := range srv.Devices {
		d := dev.(*server.Device)
		totalBytes := d.Config.MemoryMB << 20
		d.GetUUIDFunc = func() (string, nvml.Return) {
			d.RLock()
			defer d.RUnlock()
			return d.UUID, nvml.SUCCESS
		}
		d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			// NVML's instantaneous reading: the load right now.
			st := s.state(i)
			return nvml.Utilization{Gpu: st.utilizationAt(s.burstSeed[i], uint64(s.opts.Now().UnixMicro()))}, nvml.SUCCESS
		}
		d.GetSamplesFunc = func(t nvml.SamplingType, lastSeen uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
			if t != nvml.GPU_UTILIZATION_SAMPLES {
				return 0, nil, nvml.ERROR_NOT_SUPPORTED
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			var out []nvml.Sample
			for _, smp := range s.samples[i] {
				if smp.ts > lastSeen {
					out = append(out, nvml.Sample{TimeStamp: smp.ts, SampleValue: gpu.EncodeUint32Sample(smp.value)})
				}
			}
			if len(out) == 0 {
				return nvml.VALUE_TYPE_UNSIGNED_INT, nil, nvml.ERROR_NOT_FOUND
			}
			return nvml.VALUE_TYPE_UNSIGNED_INT, out, nvml.SUCCESS
		}
		d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
			used := s.state(i).MemoryUsedMB << 20
			return nvml.Memory_v2{Version: 2, Total: totalBytes, Used: used, Free: totalBytes - used}, nvml.SUCCESS
		}
		d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
			used := s.state(i).MemoryUsedMB << 20
			return nvml.Memory{Total: totalBytes, Used: used, Free: totalBytes - used}, nvml.SUCCESS
		}
		d.GetTemperatureFunc = func(sensor nvml.TemperatureSensors) (uint32, nvml.Return) {
			if sensor != nvml.TEMPERATURE_GPU {
				return 0, nvml.ERROR_NOT_SUPPORTED
			}
			return s.state(i).TemperatureCelsius, nvml.SUCCESS
		}
		d.UUID = s.defaultUUID[i]
		if s.opts.MIGDevices > 0 {
			s.enableMIG(i, d, totalBytes)
		}
	}
	s.Interface = srv
}

// enableMIG makes device i of the mock server a MIG-enabled GPU with
// Options.MIGDevices MIG devices; NVML reports no whole-GPU utilization for
// it.
func (s *Simulator) enableMIG(i int, d *server.Device, totalBytes uint64) {
	n := s.opts.MIGDevices
	migTotal := totalBytes / 8 // a 1g instance: one of the GPU's 8 memory slices
	d.MigMode = nvml.DEVICE_MIG_ENABLE
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED }
	d.GetSamplesFunc = func(nvml.SamplingType, uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
		return 0, nil, nvml.ERROR_NOT_SUPPORTED
	}
	// NVML answers the most MIG devices the GPU can hold; the slots not
	// created are not found.
	d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return simuuid.MaxMIGDevices, nvml.SUCCESS }
	d.GetMigDeviceHandleByIndexFunc = func(k int) (nvml.Device, nvml.Return) {
		if k < 0 || k >= n {
			return nil, nvml.ERROR_NOT_FOUND
		}
		d.RLock()
		id := simuuid.MIGUUID(d.UUID, k)
		d.RUnlock()
		memory := func() (used uint64) { return min(s.state(i).MemoryUsedMB<<20/uint64(n), migTotal) }
		return &mock.Device{
			GetUUIDFunc: func() (string, nvml.Return) { return id, nvml.SUCCESS },
			GetMemoryInfo_v2Func: func() (nvml.Memory_v2, nvml.Return) {
				used := memory()
				return nvml.Memory_v2{Version: 2, Total: migTotal, Used: used, Free: migTotal - used}, nvml.SUCCESS
			},
			GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
				used := memory()
				return nvml.Memory{Total: migTotal, Used: used, Free: migTotal - used}, nvml.SUCCESS
			},
		}, nvml.SUCCESS
	}
}

// sampleTimes are the sample timestamps (µs) after last up to now: one every
// SamplePeriod on the device's sampling grid, at most samplesKept of them,
// and at least one (now, or just after last when the clock did not move).
func sampleTimes(last, now uint64) []uint64 {
	period := uint64(SamplePeriod / time.Microsecond)
	if last == 0 || now <= last {
		return []uint64{max(now, last+1)}
	}
	first := last + period
	if n := (now - last) / period; n > samplesKept {
		first = last + (n-samplesKept+1)*period
	}
	var out []uint64
	for ts := first; ts <= now; ts += period {
		out = append(out, ts)
	}
	if len(out) == 0 {
		// Less than a sample period passed: NVML would have no new sample;
		// the reader then falls back to the instantaneous reading. Take one
		// anyway so every collection averages at least one sample.
		out = append(out, now)
	}
	return out
}

// utilizationAt is the device's utilization at ts (µs): the steady value, or
// for a bursty load 100 while ts falls in the busy part of its period and 0
// otherwise. Each period's busy window starts at its own pseudo-random offset
// (a function of the device's seed — from its node, model and index — and
// the period's number, so a trace replays the same): bursts of independent pods are not in step, and readings taken at a
// fixed rate — every collection interval — find the GPU busy with a
// probability equal to the duty cycle instead of aliasing with the period (a
// fixed phase read every 5 s with a 2.5 s period would read the same value
// forever). The window may wrap past the period's end; each period is still
// busy for exactly utilizationPercent of it.
func (st State) utilizationAt(seed uint64, ts uint64) uint32 {
	if st.BurstPeriod <= 0 {
		return st.UtilizationPercent
	}
	period := uint64(st.BurstPeriod / time.Microsecond)
	start := rand.NewPCG(seed, ts/period).Uint64() % period
	busy := period * uint64(st.UtilizationPercent) / 100
	if (ts%period+period-start)%period < busy {
		return 100
	}
	return 0
}

func (s *Simulator) state(i int) State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[i]
}

// readFileLimited reads path, but not more than MaxFileBytes+1 bytes: enough
// for load to tell an oversized file without holding all of it.
func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A read error is an *os.PathError naming the file.
	return io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
}
