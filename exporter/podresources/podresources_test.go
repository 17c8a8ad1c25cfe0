package podresources_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
)

func TestNormalizeDeviceID(t *testing.T) {
	cases := map[string]string{
		"GPU-1234":                "GPU-1234",
		" GPU-1234 ":              "GPU-1234",
		"GPU-1234::3":             "GPU-1234",
		"MIG-GPU-1234/1/0":        "GPU-1234",
		"MIG-GPU-1234/1/0::2":     "GPU-1234",
		"MIG-9b3c-4e2f-8a6d":      "MIG-9b3c-4e2f-8a6d",
		"MIG-GPU-/1/0":            "",
		"":                        "",
		"::1":                     "",
		"nvidia0":                 "nvidia0",
		"GPU-abcd-ef01-2345-6789": "GPU-abcd-ef01-2345-6789",
	}
	for in, want := range cases {
		if got := podresources.NormalizeDeviceID(in); got != want {
			t.Errorf("NormalizeDeviceID(%q) = %q, want %q", in, got, want)
		}
	}
}

func resp(pods ...*podresourcesv1.PodResources) *podresourcesv1.ListPodResourcesResponse {
	return &podresourcesv1.ListPodResourcesResponse{PodResources: pods}
}

func pod(ns, name string, ctrs ...*podresourcesv1.ContainerResources) *podresourcesv1.PodResources {
	return &podresourcesv1.PodResources{Namespace: ns, Name: name, Containers: ctrs}
}

func ctr(name, resource string, ids ...string) *podresourcesv1.ContainerResources {
	return &podresourcesv1.ContainerResources{Name: name, Devices: []*podresourcesv1.ContainerDevices{{ResourceName: resource, DeviceIds: ids}}}
}

func TestMapOwners(t *testing.T) {
	got := podresources.MapOwners(resp(
		pod("ml", "embed-0", ctr("server", "nvidia.com/gpu", "GPU-a"), ctr("sidecar", "example.com/foo", "GPU-z")),
		pod("ml", "rerank-0", ctr("server", "nvidia.com/mig-1g.10gb", "MIG-1111")),
		pod("ml", "shared-0", ctr("c", "nvidia.com/gpu.shared", "GPU-b::0")),
		pod("ml", "shared-1", ctr("c", "nvidia.com/gpu.shared", "GPU-b::1")),
		pod("ml", "legacy-mig", ctr("c", "nvidia.com/mig-3g.20gb", "MIG-GPU-c/2/0")),
		pod("ml", "cpu-only", &podresourcesv1.ContainerResources{Name: "c", CpuIds: []int64{1, 2}}),
	))
	want := map[string][]podresources.Owner{
		"GPU-a":    {{Namespace: "ml", Pod: "embed-0", Container: "server"}},
		"MIG-1111": {{Namespace: "ml", Pod: "rerank-0", Container: "server"}},
		"GPU-b":    {{Namespace: "ml", Pod: "shared-0", Container: "c"}, {Namespace: "ml", Pod: "shared-1", Container: "c"}},
		"GPU-c":    {{Namespace: "ml", Pod: "legacy-mig", Container: "c"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MapOwners =\n%v\nwant\n%v", got, want)
	}
	if len(podresources.MapOwners(nil)) != 0 {
		t.Fatal("nil response must map nothing")
	}
}

// FuzzMapOwners checks the invariants of the device-ID → labels mapping for
// arbitrary kubelet answers.
func FuzzMapOwners(f *testing.F) {
	f.Add("ml", "embed-0", "server", "nvidia.com/gpu", "GPU-a,GPU-b")
	f.Add("ml", "p", "c", "nvidia.com/mig-1g.10gb", "MIG-GPU-x/1/0,MIG-1234")
	f.Add("ml", "p", "c", "nvidia.com/gpu.shared", "GPU-a::0,GPU-a::1, ,::")
	f.Add("", "", "", "amd.com/gpu", "GPU-a")
	f.Add("ns\x00", "p\xff", "c=\"", "nvidia.com/", "MIG-GPU-/,/,::::")
	f.Fuzz(func(t *testing.T, ns, podName, container, resource, ids string) {
		deviceIDs := strings.Split(ids, ",")
		r := resp(pod(ns, podName, ctr(container, resource, deviceIDs...)), pod(ns, podName+"-2", ctr(container, resource, deviceIDs...)))
		owners := podresources.MapOwners(r)
		if !strings.HasPrefix(resource, podresources.ResourcePrefix) {
			if len(owners) != 0 {
				t.Fatalf("resource %q is not an NVIDIA resource but mapped %v", resource, owners)
			}
			return
		}
		for key, os := range owners {
			if key == "" || podresources.NormalizeDeviceID(key) != key {
				t.Fatalf("key %q is not normalised", key)
			}
			if len(os) != 2 || os[0].Pod != podName || os[1].Pod != podName+"-2" {
				t.Fatalf("key %q owners %v, want both pods once each in order", key, os)
			}
			for _, o := range os {
				if o.Namespace != ns || o.Container != container {
					t.Fatalf("owner %v does not come from the input", o)
				}
			}
		}
		for _, id := range deviceIDs {
			if n := podresources.NormalizeDeviceID(id); n != "" {
				if _, ok := owners[n]; !ok {
					t.Fatalf("device %q (normalised %q) lost", id, n)
				}
			}
		}
	})
}

func startServer(t *testing.T) (*podresourcestest.Server, string) {
	t.Helper()
	// Unix socket paths are limited to ~108 bytes; t.TempDir can be long.
	path := filepath.Join(podresourcestest.ShortDir(t), "kubelet.sock")
	srv, err := podresourcestest.NewServer(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, path
}

func newClient(t *testing.T, path string, timeout time.Duration) *podresources.Client {
	t.Helper()
	c, err := podresources.NewClient(path, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestClientAgainstFakeKubelet(t *testing.T) {
	srv, path := startServer(t)
	srv.SetAllocations([]podresourcestest.Allocation{
		{Namespace: "medical-kg", Pod: "embedding-service-0", Container: "server", ResourceName: "nvidia.com/gpu", DeviceIDs: []string{"GPU-a"}},
		{Namespace: "medical-kg", Pod: "reranking-service-0", Container: "server", ResourceName: "nvidia.com/mig-1g.10gb", DeviceIDs: []string{"MIG-1111"}},
		{Namespace: "medical-kg", Pod: "web-0", Container: "nginx"},
	})
	c := newClient(t, path, 2*time.Second)
	owners, err := c.Owners(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]podresources.Owner{
		"GPU-a":    {{Namespace: "medical-kg", Pod: "embedding-service-0", Container: "server"}},
		"MIG-1111": {{Namespace: "medical-kg", Pod: "reranking-service-0", Container: "server"}},
	}
	if !reflect.DeepEqual(owners, want) {
		t.Fatalf("owners = %v, want %v (GPU-b is unallocated and must be absent)", owners, want)
	}

	// Allocations change between collections.
	srv.SetAllocations(nil)
	owners, err = c.Owners(context.Background())
	if err != nil || len(owners) != 0 {
		t.Fatalf("after deallocation owners = %v, err %v", owners, err)
	}
}

func TestClientHungKubeletTimesOut(t *testing.T) {
	srv, path := startServer(t)
	srv.SetDelay(time.Hour)
	c := newClient(t, path, 100*time.Millisecond)
	_, err := c.Owners(context.Background())
	if err == nil || podresources.ErrorReason(err) != "timeout" {
		t.Fatalf("err = %v (reason %q), want a timeout", err, podresources.ErrorReason(err))
	}
	if srv.Calls() != 1 {
		t.Fatalf("server saw %d calls, want 1", srv.Calls())
	}
}

func TestClientAbsentSocket(t *testing.T) {
	path := filepath.Join(podresourcestest.ShortDir(t), "kubelet.sock")
	c := newClient(t, path, time.Second)
	_, err := c.Owners(context.Background())
	if err == nil || podresources.ErrorReason(err) != "unavailable" {
		t.Fatalf("err = %v (reason %q), want unavailable", err, podresources.ErrorReason(err))
	}

	// The kubelet comes up later: the same client recovers.
	srv, err := podresourcestest.NewServer(path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetAllocations([]podresourcestest.Allocation{{Namespace: "ns", Pod: "p", Container: "c", ResourceName: "nvidia.com/gpu", DeviceIDs: []string{"GPU-a"}}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		owners, err := c.Owners(context.Background())
		if err == nil {
			if len(owners["GPU-a"]) != 1 {
				t.Fatalf("owners = %v", owners)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client did not recover after the socket appeared: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNewClientRejectsBadTimeout(t *testing.T) {
	if _, err := podresources.NewClient("/tmp/x.sock", 0); err == nil {
		t.Fatal("zero timeout accepted")
	}
}

func TestFakeServerGroupsContainers(t *testing.T) {
	srv, path := startServer(t)
	srv.SetAllocations([]podresourcestest.Allocation{
		{Namespace: "ns", Pod: "p", Container: "a", ResourceName: "nvidia.com/gpu", DeviceIDs: []string{"GPU-1"}},
		{Namespace: "ns", Pod: "p", Container: "a", ResourceName: "nvidia.com/gpu", DeviceIDs: []string{"GPU-2"}},
		{Namespace: "ns", Pod: "p", Container: "b", ResourceName: "nvidia.com/gpu", DeviceIDs: []string{"GPU-3"}},
	})
	c := newClient(t, path, time.Second)
	owners, err := c.Owners(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) != 3 || owners["GPU-2"][0].Container != "a" || owners["GPU-3"][0].Container != "b" {
		t.Fatalf("owners = %v", owners)
	}
}
