// Package podresources asks the kubelet's pod-resources v1 API which
// container each GPU is allocated to.
package podresources

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// DefaultSocket is where the kubelet serves the pod-resources API.
const DefaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// maxMessageSize matches the kubelet's own limit for pod-resources responses.
const maxMessageSize = 16 << 20

// ResourcePrefix selects the extended resources that are NVIDIA devices
// (nvidia.com/gpu, nvidia.com/mig-1g.10gb, nvidia.com/gpu.shared, ...).
const ResourcePrefix = "nvidia.com/"

// Owner is the container a device is allocated to.
type Owner struct {
	Namespace string
	Pod       string
	Container string
}

// Client lists pod resources over the kubelet's unix socket.
type Client struct {
	conn    *grpc.ClientConn
	lister  podresourcesv1.PodResourcesListerClient
	timeout time.Duration
}

// NewClient prepares a client for the socket at path. It does not connect:
// each List dials as needed and gives up after timeout, so a missing, refusing
// or hung socket costs at most timeout per collection.
func NewClient(path string, timeout time.Duration) (*Client, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("pod-resources timeout must be positive, got %s", timeout)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve pod-resources socket path %q: %w", path, err)
	}
	conn, err := grpc.NewClient("unix://"+abs,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("create pod-resources client for %s: %w", abs, err)
	}
	return &Client{conn: conn, lister: podresourcesv1.NewPodResourcesListerClient(conn), timeout: timeout}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Owners lists pod resources and maps NVIDIA device IDs to their containers
// (see MapOwners).
func (c *Client) Owners(ctx context.Context) (map[string][]Owner, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.lister.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("list pod resources: %w", err)
	}
	return MapOwners(resp), nil
}

// ErrorReason classifies a List error for the error counter.
func ErrorReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), status.Code(err) == codes.DeadlineExceeded:
		return "timeout"
	case errors.Is(err, context.Canceled), status.Code(err) == codes.Canceled:
		return "canceled"
	case status.Code(err) == codes.Unavailable:
		return "unavailable"
	case status.Code(err) == codes.PermissionDenied, status.Code(err) == codes.Unauthenticated:
		return "permission_denied"
	case status.Code(err) == codes.Unimplemented:
		return "unimplemented"
	default:
		return "error"
	}
}

// MapOwners maps the device IDs of NVIDIA resources to the containers they
// are allocated to. Keys are normalised with NormalizeDeviceID. A device
// shared by several containers (time-slicing replicas "GPU-<uuid>::<n>") maps
// to each of them once, in the order the kubelet lists them.
func MapOwners(resp *podresourcesv1.ListPodResourcesResponse) map[string][]Owner {
	owners := map[string][]Owner{}
	for _, pod := range resp.GetPodResources() {
		for _, ctr := range pod.GetContainers() {
			for _, dev := range ctr.GetDevices() {
				if !strings.HasPrefix(dev.GetResourceName(), ResourcePrefix) {
					continue
				}
				for _, id := range dev.GetDeviceIds() {
					key := NormalizeDeviceID(id)
					if key == "" {
						continue
					}
					o := Owner{Namespace: pod.GetNamespace(), Pod: pod.GetName(), Container: ctr.GetName()}
					if !slices.Contains(owners[key], o) {
						owners[key] = append(owners[key], o)
					}
				}
			}
		}
	}
	return owners
}

// NormalizeDeviceID turns a device-plugin device ID into the UUID NVML
// reports:
//   - "GPU-<uuid>" stays as is;
//   - time-slicing replicas "GPU-<uuid>::<n>" lose the replica suffix;
//   - legacy MIG IDs "MIG-GPU-<uuid>/<gi>/<ci>" become the parent "GPU-<uuid>";
//   - MIG UUIDs "MIG-<uuid>" stay as is (the collector maps them to the parent
//     GPU through NVML).
//
// Surrounding whitespace is trimmed; an empty result means "ignore".
func NormalizeDeviceID(id string) string {
	id = strings.TrimSpace(id)
	if i := strings.Index(id, "::"); i >= 0 {
		id = strings.TrimSpace(id[:i])
	}
	if rest, ok := strings.CutPrefix(id, "MIG-GPU-"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i]
		}
		rest = strings.TrimSpace(rest)
		if rest == "" {
			return ""
		}
		return "GPU-" + rest
	}
	return id
}
