// Package podresourcestest serves a fake kubelet pod-resources v1 API on a
// unix socket, for the exporter's tests and for the sandbox's fake GPU nodes.
package podresourcestest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Allocation is one container's devices of one resource.
type Allocation struct {
	Namespace    string
	Pod          string
	Container    string
	ResourceName string // e.g. nvidia.com/gpu
	DeviceIDs    []string
}

// Server is a fake kubelet pod-resources server.
type Server struct {
	podresourcesv1.UnimplementedPodResourcesListerServer

	path string
	grpc *grpc.Server
	lis  net.Listener
	done chan struct{}

	mu          sync.Mutex
	allocations []Allocation
	delay       time.Duration
	calls       int
}

// NewServer listens on socketPath (removing a stale socket file first) and
// serves until Close.
func NewServer(socketPath string) (*Server, error) {
	if err := os.Remove(socketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", socketPath, err)
	}
	lis, err := net.Listen("unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", socketPath, err)
	}
	s := &Server{path: socketPath, grpc: grpc.NewServer(), lis: lis, done: make(chan struct{})}
	podresourcesv1.RegisterPodResourcesListerServer(s.grpc, s)
	go func() {
		defer close(s.done)
		_ = s.grpc.Serve(lis)
	}()
	return s, nil
}

// Path is the socket path.
func (s *Server) Path() string { return s.path }

// SetAllocations replaces the allocations the server reports.
func (s *Server) SetAllocations(allocs []Allocation) {
	cp := make([]Allocation, len(allocs))
	for i, a := range allocs {
		a.DeviceIDs = append([]string(nil), a.DeviceIDs...)
		cp[i] = a
	}
	s.mu.Lock()
	s.allocations = cp
	s.mu.Unlock()
}

// SetDelay makes every call wait d (or until the caller gives up) before
// answering; it simulates a hung kubelet.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Calls reports how many List/Get calls the server received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Close stops the server and removes the socket.
func (s *Server) Close() {
	s.grpc.Stop()
	<-s.done
	_ = os.Remove(s.path)
}

func (s *Server) begin(ctx context.Context) ([]Allocation, error) {
	s.mu.Lock()
	s.calls++
	delay, allocs := s.delay, s.allocations
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return allocs, nil
}

// List implements the pod-resources v1 List call.
func (s *Server) List(ctx context.Context, _ *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	allocs, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	return &podresourcesv1.ListPodResourcesResponse{PodResources: podResources(allocs)}, nil
}

// Get implements the pod-resources v1 Get call.
func (s *Server) Get(ctx context.Context, req *podresourcesv1.GetPodResourcesRequest) (*podresourcesv1.GetPodResourcesResponse, error) {
	allocs, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	for _, pr := range podResources(allocs) {
		if pr.Namespace == req.GetPodNamespace() && pr.Name == req.GetPodName() {
			return &podresourcesv1.GetPodResourcesResponse{PodResources: pr}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "pod %s/%s not found", req.GetPodNamespace(), req.GetPodName())
}

// podResources groups allocations by pod and container, keeping first-seen
// order.
func podResources(allocs []Allocation) []*podresourcesv1.PodResources {
	var pods []*podresourcesv1.PodResources
	podIdx := map[[2]string]int{}
	for _, a := range allocs {
		key := [2]string{a.Namespace, a.Pod}
		pi, ok := podIdx[key]
		if !ok {
			pi = len(pods)
			podIdx[key] = pi
			pods = append(pods, &podresourcesv1.PodResources{Namespace: a.Namespace, Name: a.Pod})
		}
		pod := pods[pi]
		var ctr *podresourcesv1.ContainerResources
		for _, c := range pod.Containers {
			if c.Name == a.Container {
				ctr = c
			}
		}
		if ctr == nil {
			ctr = &podresourcesv1.ContainerResources{Name: a.Container}
			pod.Containers = append(pod.Containers, ctr)
		}
		if a.ResourceName != "" || len(a.DeviceIDs) > 0 {
			ctr.Devices = append(ctr.Devices, &podresourcesv1.ContainerDevices{
				ResourceName: a.ResourceName,
				DeviceIds:    append([]string(nil), a.DeviceIDs...),
			})
		}
	}
	return pods
}

// TB is the part of testing.TB that ShortDir needs (this package is also
// linked into the sandbox, so it does not import testing).
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// ShortDir makes a temporary directory, removed when the test ends, short
// enough for unix socket paths (limited to about 108 bytes, which
// t.TempDir() can exceed).
func ShortDir(t TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
