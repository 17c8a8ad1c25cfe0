package deviceplugin

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
)

// fakeKubelet serves the kubelet's Registration service on
// <dir>/kubelet.sock and records every Register request.
type fakeKubelet struct {
	pluginapi.UnimplementedRegistrationServer

	path   string
	grpc   *grpc.Server
	reqs   chan *pluginapi.RegisterRequest
	reject error // returned by Register when set
}

func startKubelet(t *testing.T, dir string, reject error) *fakeKubelet {
	t.Helper()
	path := filepath.Join(dir, kubeletSocketName)
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("fake kubelet: %v", err)
	}
	k := &fakeKubelet{path: path, grpc: grpc.NewServer(), reqs: make(chan *pluginapi.RegisterRequest, 16), reject: reject}
	pluginapi.RegisterRegistrationServer(k.grpc, k)
	go func() { _ = k.grpc.Serve(lis) }()
	t.Cleanup(k.stop)
	return k
}

func (k *fakeKubelet) Register(_ context.Context, req *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	k.reqs <- req
	if k.reject != nil {
		return nil, k.reject
	}
	return &pluginapi.Empty{}, nil
}

// stop stops the server; the socket file is removed by the listener.
func (k *fakeKubelet) stop() {
	k.grpc.Stop()
	_ = os.Remove(k.path)
}

func (k *fakeKubelet) waitRegister(t *testing.T) *pluginapi.RegisterRequest {
	t.Helper()
	select {
	case req := <-k.reqs:
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("no Register call within 10s")
		return nil
	}
}

// startPlugin runs the plugin for cfg (Dir, PollInterval and Logger filled
// in) until the test ends; the returned channel yields Run's result.
func startPlugin(t *testing.T, cfg Config) (cancel func(), done <-chan error) {
	t.Helper()
	if cfg.NodeName == "" {
		cfg.NodeName = "gpu-node-1"
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	ctx, cancelCtx := context.WithCancel(context.Background())
	ch, finished := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(finished)
		ch <- Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancelCtx()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return cancelCtx, ch
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}

// dialPlugin connects to the plugin's socket in dir.
func dialPlugin(t *testing.T, dir string) pluginapi.DevicePluginClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, DefaultSocketName),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pluginapi.NewDevicePluginClient(conn)
}

// listDevices reads the first ListAndWatch response.
func listDevices(t *testing.T, c pluginapi.DevicePluginClient) []*pluginapi.Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.ListAndWatch(ctx, &pluginapi.Empty{})
	if err != nil {
		t.Fatalf("ListAndWatch: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("ListAndWatch Recv: %v", err)
	}
	return resp.GetDevices()
}

func shortDir(t *testing.T) string { return podresourcestest.ShortDir(t) }
