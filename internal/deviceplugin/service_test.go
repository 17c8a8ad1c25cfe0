package deviceplugin

import (
	"context"
	"slices"
	"testing"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

func TestGetPreferredAllocation(t *testing.T) {
	s := newService([]string{"a", "b", "c", "d"}, nil)
	resp, err := s.GetPreferredAllocation(context.Background(), &pluginapi.PreferredAllocationRequest{
		ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{
			{AvailableDeviceIDs: []string{"a", "b", "c", "d"}, MustIncludeDeviceIDs: []string{"c"}, AllocationSize: 2},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetContainerResponses()[0].GetDeviceIDs(); !slices.Equal(got, []string{"c", "a"}) {
		t.Fatalf("preferred %v, want [c a]", got)
	}
	if _, err := s.PreStartContainer(context.Background(), &pluginapi.PreStartContainerRequest{}); err != nil {
		t.Fatal(err)
	}
}
