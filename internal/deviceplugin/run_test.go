package deviceplugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
)

func TestRegistersAndListsSimulatedUUIDs(t *testing.T) {
	dir := shortDir(t)
	k := startKubelet(t, dir, nil)
	cancel, done := startPlugin(t, Config{Dir: dir, NodeName: "gpu-node-1"})

	req := k.waitRegister(t)
	if req.GetResourceName() != "nvidia.com/gpu" || req.GetVersion() != pluginapi.Version || req.GetEndpoint() != DefaultSocketName {
		t.Fatalf("Register(resource %q, version %q, endpoint %q): want nvidia.com/gpu, %s, %s",
			req.GetResourceName(), req.GetVersion(), req.GetEndpoint(), pluginapi.Version, DefaultSocketName)
	}
	if o := req.GetOptions(); o.GetPreStartRequired() || o.GetGetPreferredAllocationAvailable() {
		t.Errorf("Register options %v: want neither pre-start nor preferred allocation", o)
	}

	c := dialPlugin(t, dir)
	opts, err := c.GetDevicePluginOptions(context.Background(), &pluginapi.Empty{})
	if err != nil || opts.GetPreStartRequired() || opts.GetGetPreferredAllocationAvailable() {
		t.Fatalf("GetDevicePluginOptions = %v, %v", opts, err)
	}
	var got, want []string
	for _, d := range listDevices(t, c) {
		if d.GetHealth() != pluginapi.Healthy {
			t.Errorf("device %s health %q", d.GetID(), d.GetHealth())
		}
		got = append(got, d.GetID())
	}
	for i := range simuuid.Devices("dgxa100") {
		want = append(want, simuuid.UUID("gpu-node-1", "dgxa100", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("devices %v\nwant %v", got, want)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if _, err := os.Stat(filepath.Join(dir, DefaultSocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("plugin socket still there after stop: %v", err)
	}
}

func TestListAndWatchHoldsUntilStop(t *testing.T) {
	dir := shortDir(t)
	k := startKubelet(t, dir, nil)
	cancel, done := startPlugin(t, Config{Dir: dir, Devices: 2})
	k.waitRegister(t)

	stream, err := dialPlugin(t, dir).ListAndWatch(context.Background(), &pluginapi.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || len(resp.GetDevices()) != 2 {
		t.Fatalf("first response %v, %v: want 2 devices", resp, err)
	}
	next := make(chan error, 1)
	go func() { _, err := stream.Recv(); next <- err }()
	select {
	case err := <-next:
		t.Fatalf("stream ended while the plugin runs: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-next:
		if err == nil {
			t.Fatal("second Recv returned a response")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10s after stop")
	}
}

func TestAllocate(t *testing.T) {
	dir := shortDir(t)
	k := startKubelet(t, dir, nil)
	startPlugin(t, Config{Dir: dir, NodeName: "n1", Model: "dgxh100", Devices: 4})
	k.waitRegister(t)
	c := dialPlugin(t, dir)
	u := func(i int) string { return simuuid.UUID("n1", "dgxh100", i) }

	resp, err := c.Allocate(context.Background(), &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{
		{DevicesIds: []string{u(0)}}, {DevicesIds: []string{u(3), u(1)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, cr := range resp.GetContainerResponses() {
		envs = append(envs, cr.GetEnvs()[VisibleDevicesEnv])
	}
	if want := []string{u(0), u(3) + "," + u(1)}; !slices.Equal(envs, want) {
		t.Fatalf("NVIDIA_VISIBLE_DEVICES per container %v, want %v", envs, want)
	}

	// GPU 4 exists on the model but is not advertised (Devices: 4).
	_, err = c.Allocate(context.Background(), &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{
		{DevicesIds: []string{u(0), "GPU-bogus", u(4)}},
	}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Allocate(unknown) = %v, want InvalidArgument", err)
	}
	msg := status.Convert(err).Message()
	if !strings.Contains(msg, "GPU-bogus") || !strings.Contains(msg, u(4)) || strings.Contains(msg, u(0)) {
		t.Errorf("error %q should name exactly the unknown IDs", msg)
	}
}

func TestReRegistersAfterKubeletRestart(t *testing.T) {
	for _, tc := range []struct {
		name             string
		removePluginSock bool // the real kubelet deletes plugin sockets on start
	}{{"kubelet removes plugin sockets", true}, {"plugin socket kept", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := shortDir(t)
			k := startKubelet(t, dir, nil)
			startPlugin(t, Config{Dir: dir})
			k.waitRegister(t)
			time.Sleep(100 * time.Millisecond) // let the reply reach the plugin

			k.stop()
			if tc.removePluginSock {
				if err := os.Remove(filepath.Join(dir, DefaultSocketName)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond) // a few polls without a kubelet
			k2 := startKubelet(t, dir, nil)
			if req := k2.waitRegister(t); req.GetEndpoint() != DefaultSocketName {
				t.Fatalf("second Register endpoint %q", req.GetEndpoint())
			}
			if n := len(listDevices(t, dialPlugin(t, dir))); n != 8 {
				t.Fatalf("after re-registration the plugin lists %d devices, want 8", n)
			}
		})
	}
}

func TestWaitsForKubelet(t *testing.T) {
	dir := shortDir(t)
	_, done := startPlugin(t, Config{Dir: dir})
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run returned without a kubelet: %v", err)
	default:
	}
	startKubelet(t, dir, nil).waitRegister(t)
}

func TestRejectedRegistrationFails(t *testing.T) {
	dir := shortDir(t)
	k := startKubelet(t, dir, errors.New("invalid name of device plugin socket"))
	_, done := startPlugin(t, Config{Dir: dir})
	k.waitRegister(t)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "invalid name of device plugin socket") {
			t.Fatalf("Run = %v, want the kubelet's rejection", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept going after the kubelet rejected the registration")
	}
}

func TestServeFailureIsAnError(t *testing.T) {
	dir := shortDir(t)
	k := startKubelet(t, dir, nil)
	// Something that is not a socket (a non-empty folder) sits where the
	// plugin's socket goes: serving must fail with a runtime error.
	if err := os.MkdirAll(filepath.Join(dir, DefaultSocketName, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, done := startPlugin(t, Config{Dir: dir})
	select {
	case err := <-done:
		if err == nil || IsConfigError(err) || !strings.Contains(err.Error(), DefaultSocketName) {
			t.Fatalf("Run = %v, want a runtime error naming the socket", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not fail")
	}
	if len(k.reqs) != 0 {
		t.Error("registered without serving")
	}
}
