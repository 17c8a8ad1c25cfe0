package gpu

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// fakeDevice is a go-nvml mock device whose behaviour tests change between
// collections.
type fakeDevice struct {
	*mock.Device
	uuid        string
	util        uint32
	samples     []nvml.Sample
	samplesRet  nvml.Return
	utilRet     nvml.Return
	memV2Ret    nvml.Return
	tempRet     nvml.Return
	used, total uint64
	temp        uint32
	migMode     int
	migUUIDs    []string
	// migMemoryFails is the MIG device whose memory NVML cannot read (-1: none).
	migMemoryFails int
	lastSeenArg    []uint64
}

func newFakeDevice(uuid string) *fakeDevice {
	f := &fakeDevice{Device: &mock.Device{}, uuid: uuid, samplesRet: nvml.ERROR_NOT_SUPPORTED, total: 40 << 30, temp: 40, migMemoryFails: -1}
	f.GetUUIDFunc = func() (string, nvml.Return) { return f.uuid, nvml.SUCCESS }
	f.GetNameFunc = func() (string, nvml.Return) { return "Fake GPU", nvml.SUCCESS }
	f.GetSamplesFunc = func(t nvml.SamplingType, lastSeen uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
		if t != nvml.GPU_UTILIZATION_SAMPLES {
			return 0, nil, nvml.ERROR_INVALID_ARGUMENT
		}
		f.lastSeenArg = append(f.lastSeenArg, lastSeen)
		return nvml.VALUE_TYPE_UNSIGNED_INT, f.samples, f.samplesRet
	}
	f.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: f.util}, f.utilRet
	}
	f.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		return nvml.Memory_v2{Used: f.used, Total: f.total}, f.memV2Ret
	}
	f.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		return nvml.Memory{Used: f.used + 1<<20, Total: f.total}, nvml.SUCCESS
	}
	f.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return f.temp, f.tempRet }
	f.GetMigModeFunc = func() (int, int, nvml.Return) { return f.migMode, f.migMode, nvml.SUCCESS }
	f.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, nvml.SUCCESS }
	f.GetMigDeviceHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if i >= len(f.migUUIDs) {
			return nil, nvml.ERROR_NOT_FOUND
		}
		u := f.migUUIDs[i]
		mig := &mock.Device{GetUUIDFunc: func() (string, nvml.Return) { return u, nvml.SUCCESS }}
		mig.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
			if i == f.migMemoryFails {
				return nvml.Memory_v2{}, nvml.ERROR_UNKNOWN
			}
			return nvml.Memory_v2{Used: uint64(i+1) << 20, Total: 5 << 30}, nvml.SUCCESS
		}
		return mig, nvml.SUCCESS
	}
	return f
}

func newFakeLib(devs ...*fakeDevice) *mock.Interface {
	return &mock.Interface{
		InitFunc:           func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:       func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(devs) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nvml.SUCCESS
		},
	}
}

func sample(ts uint64, v uint32) nvml.Sample {
	return nvml.Sample{TimeStamp: ts, SampleValue: EncodeUint32Sample(v)}
}

func fixedNow(us int64) func() time.Time {
	return func() time.Time { return time.UnixMicro(us) }
}

func TestUtilizationAveragesSamplesSinceLastCollection(t *testing.T) {
	dev := newFakeDevice("GPU-a")
	dev.samplesRet = nvml.SUCCESS
	// now = 40 s, window = 30 s: the first collection averages the samples
	// newer than 10 s.
	dev.samples = []nvml.Sample{sample(5_000_000, 100), sample(20_000_000, 30), sample(35_000_000, 50)}
	dev.util = 99 // instantaneous value must not be used
	r := NewReader(newFakeLib(dev), 30*time.Second)
	r.now = fixedNow(40_000_000)

	res, err := r.Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := res.Devices[0]
	if got.UtilizationPercent != 40 || got.UtilizationSamples != 2 || !got.HasUtilization {
		t.Fatalf("first collection: utilization %v from %d samples, want 40 from 2 (sample at 5s is older than the window)", got.UtilizationPercent, got.UtilizationSamples)
	}
	if dev.lastSeenArg[0] != 10_000_000 {
		t.Fatalf("first GetSamples lastSeen = %d, want now-window = 10000000", dev.lastSeenArg[0])
	}

	// Second collection: only the sample newer than the last one consumed.
	dev.samples = append(dev.samples, sample(50_000_000, 90), sample(60_000_000, 70))
	res, err = r.Collect()
	if err != nil {
		t.Fatal(err)
	}
	got = res.Devices[0]
	if got.UtilizationPercent != 80 || got.UtilizationSamples != 2 {
		t.Fatalf("second collection: utilization %v from %d samples, want 80 from 2", got.UtilizationPercent, got.UtilizationSamples)
	}
	if dev.lastSeenArg[1] != 35_000_000 {
		t.Fatalf("second GetSamples lastSeen = %d, want newest consumed timestamp 35000000", dev.lastSeenArg[1])
	}
}

func TestUtilizationFallsBackToInstantaneous(t *testing.T) {
	for name, ret := range map[string]nvml.Return{"not supported": nvml.ERROR_NOT_SUPPORTED, "no new samples": nvml.ERROR_NOT_FOUND, "empty": nvml.SUCCESS} {
		t.Run(name, func(t *testing.T) {
			dev := newFakeDevice("GPU-a")
			dev.samplesRet = ret
			dev.util = 77
			res, err := NewReader(newFakeLib(dev), time.Minute).Collect()
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Devices[0]; got.UtilizationPercent != 77 || got.UtilizationSamples != 0 || !got.HasUtilization {
				t.Fatalf("got %v from %d samples, want the instantaneous 77 from 0 samples", got.UtilizationPercent, got.UtilizationSamples)
			}
		})
	}
}

func TestMemoryInfoV2WithV1Fallback(t *testing.T) {
	dev := newFakeDevice("GPU-a")
	dev.used = 2 << 30
	r := NewReader(newFakeLib(dev), time.Minute)
	res, err := r.Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Devices[0]; got.MemoryUsedBytes != 2<<30 || got.MemoryTotalBytes != 40<<30 {
		t.Fatalf("v2: used %d total %d", got.MemoryUsedBytes, got.MemoryTotalBytes)
	}
	dev.memV2Ret = nvml.ERROR_NOT_SUPPORTED
	res, err = r.Collect()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Devices[0]; got.MemoryUsedBytes != 2<<30+1<<20 {
		t.Fatalf("v1 fallback: used %d, want the v1 value %d", got.MemoryUsedBytes, 2<<30+1<<20)
	}
	if len(res.Errors) != 0 {
		t.Fatalf("falling back to v1 is not an error: %v", res.Errors)
	}
}

func TestDeviceLostMidRunDropsOnlyThatDevice(t *testing.T) {
	a, b := newFakeDevice("GPU-a"), newFakeDevice("GPU-b")
	r := NewReader(newFakeLib(a, b), time.Minute)
	res, err := r.Collect()
	if err != nil || len(res.Devices) != 2 {
		t.Fatalf("before loss: %d devices, err %v", len(res.Devices), err)
	}

	b.samplesRet = nvml.ERROR_GPU_IS_LOST
	b.utilRet = nvml.ERROR_GPU_IS_LOST
	res, err = r.Collect()
	if err != nil {
		t.Fatalf("a lost device must not fail the collection: %v", err)
	}
	if len(res.Devices) != 1 || res.Devices[0].UUID != "GPU-a" {
		t.Fatalf("after loss: devices %+v, want only GPU-a", res.Devices)
	}
	if len(res.Errors) != 1 || res.Errors[0].Reason != "gpu_lost" || res.Errors[0].UUID != "GPU-b" || res.Errors[0].Partial {
		t.Fatalf("errors = %+v, want one gpu_lost error for GPU-b", res.Errors)
	}
	if !errors.Is(res.Errors[0].Err, nvml.ERROR_GPU_IS_LOST) {
		t.Fatalf("error %v does not wrap ERROR_GPU_IS_LOST", res.Errors[0].Err)
	}
}

func TestUnsupportedCallDropsDevice(t *testing.T) {
	a, b := newFakeDevice("GPU-a"), newFakeDevice("GPU-b")
	b.tempRet = nvml.ERROR_NOT_SUPPORTED
	res, err := NewReader(newFakeLib(a, b), time.Minute).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 1 || len(res.Errors) != 1 || res.Errors[0].Reason != "not_supported" {
		t.Fatalf("devices %d errors %+v, want GPU-b dropped with not_supported", len(res.Devices), res.Errors)
	}
}

func TestLibraryMissingNeverShutsDown(t *testing.T) {
	lib := newFakeLib(newFakeDevice("GPU-a"))
	initRet := nvml.ERROR_LIBRARY_NOT_FOUND
	lib.InitFunc = func() nvml.Return { return initRet }
	lib.ShutdownFunc = func() nvml.Return {
		t.Fatal("Shutdown called after a failed Init")
		return nvml.ERROR_UNINITIALIZED
	}
	r := NewReader(lib, time.Minute)
	_, err := r.Collect()
	if !IsLibraryMissing(err) {
		t.Fatalf("Collect error = %v, want library missing", err)
	}
	var ie *InitError
	if !errors.As(err, &ie) || ie.Reason() != "init_library_not_found" {
		t.Fatalf("error %v: want InitError with reason init_library_not_found", err)
	}
	if err := r.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if len(lib.ShutdownCalls()) != 0 || len(lib.DeviceGetCountCalls()) != 0 {
		t.Fatal("no NVML call but Init may follow a failed Init")
	}

	// The driver appears later: the next collection initialises and works,
	// and Shutdown is then called exactly once.
	initRet = nvml.SUCCESS
	shutdowns := 0
	lib.ShutdownFunc = func() nvml.Return { shutdowns++; return nvml.SUCCESS }
	res, err := r.Collect()
	if err != nil || len(res.Devices) != 1 {
		t.Fatalf("after the library appeared: %d devices, err %v", len(res.Devices), err)
	}
	if err := r.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if shutdowns != 1 {
		t.Fatalf("Shutdown called %d times, want 1", shutdowns)
	}
}

func TestDeviceCountFailure(t *testing.T) {
	lib := newFakeLib()
	lib.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	if _, err := NewReader(lib, time.Minute).Collect(); !errors.Is(err, nvml.ERROR_UNKNOWN) {
		t.Fatalf("err = %v, want ERROR_UNKNOWN", err)
	}
}

func TestMIGDevicesAndUnsupportedUtilization(t *testing.T) {
	dev := newFakeDevice("GPU-parent")
	dev.migMode = nvml.DEVICE_MIG_ENABLE
	dev.migUUIDs = []string{"MIG-1111", "MIG-2222"}
	dev.utilRet = nvml.ERROR_NOT_SUPPORTED
	res, err := NewReader(newFakeLib(dev), time.Minute).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 1 {
		t.Fatalf("MIG-enabled GPU dropped: %+v", res.Errors)
	}
	got := res.Devices[0]
	if got.HasUtilization {
		t.Fatal("utilization reported although NVML does not support it with MIG")
	}
	want := []MIGDevice{{UUID: "MIG-1111", MemoryUsedBytes: 1 << 20, MemoryTotalBytes: 5 << 30, HasMemory: true},
		{UUID: "MIG-2222", MemoryUsedBytes: 2 << 20, MemoryTotalBytes: 5 << 30, HasMemory: true}}
	if !slices.Equal(got.MIGDevices, want) {
		t.Fatalf("MIG devices = %+v, want %+v (each with its own memory)", got.MIGDevices, want)
	}
	if len(res.Errors) != 1 || !res.Errors[0].Partial || res.Errors[0].Reason != "not_supported" {
		t.Fatalf("errors = %+v, want one partial not_supported", res.Errors)
	}

	// A MIG device whose memory NVML cannot read stays (its UUID still maps
	// allocations to the GPU), without memory, and says so.
	dev.migMemoryFails = 1
	res, _ = NewReader(newFakeLib(dev), time.Minute).Collect()
	if len(res.Devices) != 1 || len(res.Devices[0].MIGDevices) != 2 || res.Devices[0].MIGDevices[1].HasMemory || !res.Devices[0].MIGDevices[0].HasMemory {
		t.Fatalf("MIG memory failure: %+v", res.Devices)
	}
	i := slices.IndexFunc(res.Errors, func(e DeviceError) bool { return e.Reason == "mig_memory" })
	if len(res.Errors) != 2 || i < 0 || !res.Errors[i].Partial || !strings.Contains(res.Errors[i].Error(), "MIG-2222") {
		t.Fatalf("errors = %+v, want a partial mig_memory error naming MIG-2222 beside not_supported", res.Errors)
	}
	dev.migMemoryFails = -1

	// Without MIG, unsupported utilization drops the device.
	dev.migMode = nvml.DEVICE_MIG_DISABLE
	res, _ = NewReader(newFakeLib(dev), time.Minute).Collect()
	if len(res.Devices) != 0 {
		t.Fatal("non-MIG GPU without utilization must be dropped")
	}
}

func TestDecodeValue(t *testing.T) {
	var neg [8]byte
	copy(neg[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	var dbl [8]byte
	bits := math.Float64bits(42.5)
	for i := range 8 {
		dbl[i] = byte(bits >> (8 * i))
	}
	cases := []struct {
		t    nvml.ValueType
		v    [8]byte
		want float64
		ok   bool
	}{
		{nvml.VALUE_TYPE_UNSIGNED_INT, EncodeUint32Sample(73), 73, true},
		{nvml.VALUE_TYPE_DOUBLE, dbl, 42.5, true},
		{nvml.VALUE_TYPE_SIGNED_LONG_LONG, neg, -1, true},
		{nvml.VALUE_TYPE_SIGNED_INT, neg, -1, true},
		{nvml.VALUE_TYPE_UNSIGNED_SHORT, neg, 65535, true},
		{nvml.VALUE_TYPE_UNSIGNED_LONG_LONG, EncodeUint32Sample(5), 5, true},
		{nvml.VALUE_TYPE_COUNT, neg, 0, false},
	}
	for _, c := range cases {
		got, ok := decodeValue(c.t, c.v)
		if got != c.want || ok != c.ok {
			t.Errorf("decodeValue(%d, %v) = %v, %v; want %v, %v", c.t, c.v, got, ok, c.want, c.ok)
		}
	}
}

func TestReason(t *testing.T) {
	if Reason(nvml.ERROR_GPU_IS_LOST) != "gpu_lost" || Reason(nvml.ERROR_UNKNOWN) != "nvml_error" {
		t.Fatal("unexpected reason mapping")
	}
}
