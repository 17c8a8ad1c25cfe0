package deviceplugin

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// VisibleDevicesEnv is the variable Allocate sets, as NVIDIA's device plugin
// does (the NVIDIA container runtime reads it).
const VisibleDevicesEnv = "NVIDIA_VISIBLE_DEVICES"

// service implements the DevicePlugin gRPC service for a fixed device list.
type service struct {
	pluginapi.UnimplementedDevicePluginServer

	ids   []string
	known map[string]bool
	// stop ends every ListAndWatch stream when the server that carries them
	// is replaced or the plugin stops.
	stop <-chan struct{}
}

func newService(ids []string, stop <-chan struct{}) *service {
	known := make(map[string]bool, len(ids))
	for _, id := range ids {
		known[id] = true
	}
	return &service{ids: ids, known: known, stop: stop}
}

// Options is what the plugin tells the kubelet it supports: neither
// PreStartContainer nor GetPreferredAllocation is needed.
func options() *pluginapi.DevicePluginOptions {
	return &pluginapi.DevicePluginOptions{}
}

func (s *service) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return options(), nil
}

// ListAndWatch sends the devices, all healthy, once, then holds the stream
// open until the kubelet closes it or the plugin stops (the simulated GPUs
// never change health).
func (s *service) ListAndWatch(_ *pluginapi.Empty, stream grpc.ServerStreamingServer[pluginapi.ListAndWatchResponse]) error {
	devs := make([]*pluginapi.Device, len(s.ids))
	for i, id := range s.ids {
		devs[i] = &pluginapi.Device{ID: id, Health: pluginapi.Healthy}
	}
	if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: devs}); err != nil {
		return fmt.Errorf("send device list: %w", err)
	}
	select {
	case <-stream.Context().Done():
	case <-s.stop:
	}
	return nil
}

// Allocate answers each container request with NVIDIA_VISIBLE_DEVICES set to
// its device IDs; an ID the plugin does not advertise fails the whole call.
func (s *service) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for i, creq := range req.GetContainerRequests() {
		ids := creq.GetDevicesIds()
		if unknown := s.unknown(ids); len(unknown) > 0 {
			return nil, status.Errorf(codes.InvalidArgument,
				"container request %d: unknown %s device IDs %s (this plugin advertises %d devices)",
				i, ResourceName, strings.Join(unknown, ", "), len(s.ids))
		}
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{VisibleDevicesEnv: strings.Join(ids, ",")},
		})
	}
	return resp, nil
}

func (s *service) unknown(ids []string) []string {
	var unknown []string
	for _, id := range ids {
		if !s.known[id] {
			unknown = append(unknown, id)
		}
	}
	return unknown
}

// GetPreferredAllocation is not advertised (options), but answers sensibly
// if called: the must-include devices, then available ones in order, up to
// the requested size.
func (s *service) GetPreferredAllocation(_ context.Context, req *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	resp := &pluginapi.PreferredAllocationResponse{}
	for _, creq := range req.GetContainerRequests() {
		size := int(creq.GetAllocationSize())
		chosen := make([]string, 0, size)
		seen := map[string]bool{}
		for _, id := range append(append([]string(nil), creq.GetMustIncludeDeviceIDs()...), creq.GetAvailableDeviceIDs()...) {
			if len(chosen) == size {
				break
			}
			if !seen[id] {
				seen[id] = true
				chosen = append(chosen, id)
			}
		}
		resp.ContainerResponses = append(resp.ContainerResponses,
			&pluginapi.ContainerPreferredAllocationResponse{DeviceIDs: chosen})
	}
	return resp, nil
}

// PreStartContainer is not required (options); it does nothing.
func (s *service) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}
