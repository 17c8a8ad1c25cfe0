// Package deviceplugin is a fake NVIDIA device plugin for the sandbox's real
// kubelet node. It implements the kubelet device-plugin API
// (k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1) for the resource
// nvidia.com/gpu and advertises the simulated GPUs of one node, named by
// their simulated UUIDs (package simuuid), so that the pod-resources API
// hands out exactly the device IDs the exporter's simulated backend reports.
//
// Run serves the plugin's socket in the device-plugin folder, registers with
// the kubelet's registration socket in the same folder and re-registers when
// the kubelet restarts (its socket is recreated) or the plugin's own socket
// disappears. Allocate answers NVIDIA_VISIBLE_DEVICES like NVIDIA's plugin;
// no device nodes are mounted, since there are none.
package deviceplugin

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
)

// ResourceName is the extended resource the plugin advertises.
const ResourceName = "nvidia.com/gpu"

// DefaultSocketName is the base name of the plugin's socket in the
// device-plugin folder.
const DefaultSocketName = "fake-nvidia-gpu.sock"

// kubeletSocketName is the kubelet's registration socket in the folder.
var kubeletSocketName = filepath.Base(pluginapi.KubeletSocket)

// Config is what Run needs. Zero durations and a nil Logger take defaults.
type Config struct {
	Dir        string // device-plugin folder; default pluginapi.DevicePluginPath
	SocketName string // plugin socket's base name; default DefaultSocketName
	NodeName   string // node whose simulated GPUs are advertised (required)
	Model      string // simulated model, one of simuuid.Models(); default dgxa100
	Devices    int    // GPUs to advertise, 1..simuuid.MaxDevices (as the exporter's --simulation-gpus); 0 means the model's own count

	PollInterval    time.Duration // how often the kubelet socket is checked; default 1s
	RegisterTimeout time.Duration // timeout of one Register call; default 10s
	Logger          *slog.Logger
}

// ConfigError is a configuration mistake the user has to fix (a bad flag).
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

func configErrorf(format string, a ...any) error {
	return &ConfigError{msg: fmt.Sprintf(format, a...)}
}

// IsConfigError reports whether err is (or wraps) a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

// withDefaults validates c and fills in its defaults. Errors are
// ConfigErrors that say what to fix.
func (c Config) withDefaults() (Config, error) {
	if strings.TrimSpace(c.NodeName) == "" {
		return c, configErrorf("node name is empty: set --node-name or the NODE_NAME environment variable (spec.nodeName via the downward API)")
	}
	if c.Model == "" {
		c.Model = "dgxa100"
	}
	if simuuid.Devices(c.Model) == 0 {
		return c, configErrorf("unknown simulation model %q: use one of %s", c.Model, strings.Join(simuuid.Models(), ", "))
	}
	max := simuuid.MaxDevices
	switch {
	case c.Devices == 0:
		c.Devices = simuuid.Devices(c.Model)
	case c.Devices < 0 || c.Devices > max:
		return c, configErrorf("%d devices requested: use 1..%d, the same count as the exporter's --simulation-gpus (0: the model's %d)", c.Devices, max, simuuid.Devices(c.Model))
	}
	if c.Dir == "" {
		c.Dir = pluginapi.DevicePluginPath
	}
	if c.SocketName == "" {
		c.SocketName = DefaultSocketName
	}
	if c.SocketName == kubeletSocketName || strings.ContainsRune(c.SocketName, '/') {
		return c, configErrorf("socket name %q: use a base name other than %s", c.SocketName, kubeletSocketName)
	}
	if n := len(filepath.Join(c.Dir, c.SocketName)); n > maxSocketPath {
		return c, configErrorf("socket path %s is %d bytes: unix sockets allow %d, use a shorter --device-plugin-path",
			filepath.Join(c.Dir, c.SocketName), n, maxSocketPath)
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.RegisterTimeout <= 0 {
		c.RegisterTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// maxSocketPath is the longest unix socket path Linux accepts (sun_path is
// 108 bytes including the terminating NUL).
const maxSocketPath = 107

// Validate checks c without running anything; the error, if any, is a
// ConfigError saying what to fix.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// DeviceIDs are the IDs the plugin advertises for c: the simulated UUIDs of
// GPUs 0..Devices-1 of the node.
func (c Config) DeviceIDs() ([]string, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	ids := make([]string, c.Devices)
	for i := range ids {
		ids[i] = simuuid.UUID(c.NodeName, c.Model, i)
	}
	return ids, nil
}
