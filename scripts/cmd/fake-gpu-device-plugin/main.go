// Command fake-gpu-device-plugin advertises the simulated GPUs of one node to
// the kubelet as nvidia.com/gpu, so that the sandbox's real kubelet node
// schedules GPU pods and its pod-resources API reports the simulated UUIDs
// the exporter uses. See README.md beside this file; the logic is in
// internal/deviceplugin.
//
//	fake-gpu-device-plugin --node-name NODE [--simulation-model dgxa100] [--devices N] [--device-plugin-path DIR]
//
// Exit codes: 0 stopped by SIGTERM or SIGINT; 1 runtime failure; 2 bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
	"github.com/medical-kg/gpu-autoscaling/internal/daemon"
	"github.com/medical-kg/gpu-autoscaling/internal/deviceplugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// run parses args and serves until ctx ends; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	return daemon.Run(ctx, "fake-gpu-device-plugin", args, getenv, stderr, parseFlags,
		func(ctx context.Context, cfg deviceplugin.Config, log *slog.Logger) error {
			cfg.Logger = log
			return deviceplugin.Run(ctx, cfg)
		})
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (deviceplugin.Config, error) {
	fs := flag.NewFlagSet("fake-gpu-device-plugin", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors come back as one line; -h prints the usage below
	var cfg deviceplugin.Config
	fs.StringVar(&cfg.NodeName, "node-name", getenv("NODE_NAME"), "node whose simulated GPUs are advertised (required; default $NODE_NAME)")
	fs.StringVar(&cfg.Model, "simulation-model", "dgxa100", "simulated server model (as the exporter's --simulation-model): "+strings.Join(simuuid.Models(), ", "))
	fs.IntVar(&cfg.Devices, "devices", 0, "GPUs to advertise, 1..64, as the exporter's --simulation-gpus (0: the model's own count, 8)")
	fs.StringVar(&cfg.Dir, "device-plugin-path", pluginapi.DevicePluginPath, "kubelet device-plugin folder (its kubelet.sock and this plugin's socket)")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", time.Second, "how often to check whether the kubelet restarted")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: fake-gpu-device-plugin --node-name NODE [flags]")
			fs.PrintDefaults()
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q: this command takes flags only", fs.Args())
	}
	if cfg.PollInterval <= 0 {
		return cfg, fmt.Errorf("--poll-interval %s: use a positive duration such as 1s", cfg.PollInterval)
	}
	return cfg, cfg.Validate()
}
