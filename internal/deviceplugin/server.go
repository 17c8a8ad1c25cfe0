package deviceplugin

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	"google.golang.org/grpc"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// server is one incarnation of the plugin's gRPC server on its socket. A
// kubelet restart (which deletes every socket in the folder) replaces it.
type server struct {
	path string
	id   fileID // identity of the socket file this server created
	grpc *grpc.Server
	stop chan struct{} // closed to end ListAndWatch streams
	done chan error    // Serve's result
}

// startServer removes a stale socket at path, listens there and serves the
// DevicePlugin service for ids.
func startServer(path string, ids []string) (*server, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove stale plugin socket %s: %w", path, err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on plugin socket %s: %w", path, err)
	}
	id, err := statID(path)
	if err != nil {
		_ = lis.Close()
		return nil, fmt.Errorf("stat plugin socket: %w", err)
	}
	s := &server{path: path, id: id, grpc: grpc.NewServer(), stop: make(chan struct{}), done: make(chan error, 1)}
	pluginapi.RegisterDevicePluginServer(s.grpc, newService(ids, s.stop))
	go func() { s.done <- s.grpc.Serve(lis) }()
	return s, nil
}

// intact reports whether the socket file is still the one this server
// created (the kubelet removes plugin sockets when it restarts).
func (s *server) intact() bool {
	id, err := statID(s.path)
	return err == nil && id == s.id
}

// close stops serving and removes the socket file if it is still this
// server's.
func (s *server) close() {
	close(s.stop)
	s.grpc.Stop()
	<-s.done
	if s.intact() {
		_ = os.Remove(s.path)
	}
}

// fileID tells one incarnation of a file from the next: a recreated socket
// may reuse the inode number, but not also the modification time.
type fileID struct {
	dev, ino uint64
	mtime    time.Time
}

func statID(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	id := fileID{mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // widths differ by platform
	}
	return id, nil
}
