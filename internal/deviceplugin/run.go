package deviceplugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// plugin is the state of one Run.
type plugin struct {
	cfg     Config
	ids     []string
	socket  string // the plugin's socket
	kubelet string // the kubelet's registration socket
	log     *slog.Logger

	srv        *server
	serverFor  fileID // the kubelet socket srv was started for
	registered bool
	kubeletID  fileID // the kubelet socket the plugin registered with
	lastIssue  string // last logged wait/retry message, to log each once
}

// Run serves the fake GPU device plugin until ctx ends, then stops serving,
// removes its socket and returns nil. It waits for the kubelet's socket,
// registers, and registers again whenever the kubelet socket is recreated
// (a kubelet restart) or the plugin's own socket disappears. It returns an
// error when cfg is invalid (a ConfigError), the socket cannot be served,
// the gRPC server fails, or the kubelet rejects the registration.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	ids, err := cfg.DeviceIDs()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return fmt.Errorf("device-plugin folder %s: %w", cfg.Dir, err)
	}
	p := &plugin{cfg: cfg, ids: ids, log: cfg.Logger,
		socket: filepath.Join(dir, cfg.SocketName), kubelet: filepath.Join(dir, kubeletSocketName)}
	p.log.Info("fake GPU device plugin starting", "resource", ResourceName, "node", cfg.NodeName,
		"model", cfg.Model, "devices", len(ids), "socket", p.socket, "kubelet_socket", p.kubelet)
	defer p.shutdown()
	return p.loop(ctx)
}

func (p *plugin) loop(ctx context.Context) error {
	ticker := time.NewTicker(p.cfg.PollInterval)
	defer ticker.Stop()
	for {
		if err := p.reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var served <-chan error
		if p.srv != nil {
			served = p.srv.done
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-served:
			return fmt.Errorf("plugin gRPC server on %s stopped: %w", p.socket, err)
		case <-ticker.C:
		}
	}
}

// reconcile brings the plugin to "served and registered with the current
// kubelet". Transient problems (no kubelet yet, kubelet not answering) are
// logged once and retried on the next tick.
func (p *plugin) reconcile(ctx context.Context) error {
	kid, err := statID(p.kubelet)
	if errors.Is(err, fs.ErrNotExist) {
		if p.registered {
			p.log.Warn("kubelet socket is gone; waiting for the kubelet to come back", "kubelet_socket", p.kubelet)
			p.registered, p.lastIssue = false, waitingMsg
		}
		p.issue(waitingMsg, nil)
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat kubelet socket: %w", err)
	}
	if p.registered && kid == p.kubeletID && p.srv != nil && p.srv.intact() {
		return nil
	}
	if p.registered {
		p.log.Info("kubelet restarted or plugin socket removed; serving and registering again")
		p.registered = false
	}
	// A new kubelet gets a fresh server (old ListAndWatch streams end); a
	// retry against the same kubelet keeps the server it already has.
	if p.srv == nil || !p.srv.intact() || p.serverFor != kid {
		if err := p.restartServer(); err != nil {
			return err
		}
		p.serverFor = kid
	}
	if err := p.register(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopping
		}
		if retryable(err) {
			p.issue("kubelet did not answer the registration; retrying", err)
			return nil
		}
		return err
	}
	p.registered, p.kubeletID, p.lastIssue = true, kid, ""
	p.log.Info("registered with the kubelet", "resource", ResourceName, "endpoint", p.cfg.SocketName,
		"devices", len(p.ids))
	return nil
}

func (p *plugin) restartServer() error {
	if p.srv != nil {
		p.srv.close()
		p.srv = nil
	}
	srv, err := startServer(p.socket, p.ids)
	if err != nil {
		return err
	}
	p.srv = srv
	return nil
}

// register calls the kubelet's Register RPC for this plugin.
func (p *plugin) register(ctx context.Context) error {
	conn, err := grpc.NewClient("unix://"+p.kubelet, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial kubelet socket %s: %w", p.kubelet, err)
	}
	defer func() { _ = conn.Close() }()
	rctx, cancel := context.WithTimeout(ctx, p.cfg.RegisterTimeout)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(rctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     p.cfg.SocketName,
		ResourceName: ResourceName,
		Options:      options(),
	})
	if err != nil {
		return fmt.Errorf("register %s with the kubelet on %s: %w", ResourceName, p.kubelet, err)
	}
	return nil
}

// retryable tells a kubelet that is not (yet) answering from one that
// rejected the registration.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

const waitingMsg = "waiting for the kubelet socket"

// issue logs a wait or retry message (with err, if any) once until the
// situation changes.
func (p *plugin) issue(msg string, err error) {
	key, args := msg, []any{"kubelet_socket", p.kubelet}
	if err != nil {
		key += ": " + err.Error()
		args = append(args, "err", err)
	}
	if key == p.lastIssue {
		return
	}
	p.lastIssue = key
	p.log.Warn(msg, args...)
}

func (p *plugin) shutdown() {
	if p.srv != nil {
		p.srv.close()
		p.srv = nil
	}
	p.log.Info("fake GPU device plugin stopped", "socket", p.socket)
}
