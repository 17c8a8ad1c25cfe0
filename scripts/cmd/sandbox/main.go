// Command sandbox starts, stops and reports on the project's embedded
// Kubernetes cluster (see tests/README.md):
//
//	sandbox up     [--dir DIR] [--nodes N] [--hpa-sync-period D] [--hpa-downscale-stabilization D] [--scrape-interval D]
//	sandbox status [--dir DIR] [--json]
//	sandbox down   [--dir DIR]
//
// State (certificates, kubeconfig, etcd data, logs, PIDs) lives in one folder,
// by default <repo>/.sandbox. `up` leaves the processes running and prints how
// to use the cluster; `down` stops them by PID, in parallel.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/repo"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

const usage = `usage: sandbox up|down|status [flags]

  up      start etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
          kwok (fake GPU nodes), metrics-server and Prometheus; leave them running
  status  report each process and the cluster's health
  down    stop every process by PID and remove the cluster's data (logs stay)

Run 'sandbox <command> -h' for its flags.`

func defaultDir() string {
	if root, err := repo.Root(); err == nil {
		return filepath.Join(root, ".sandbox")
	}
	return ".sandbox"
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("missing command")
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("sandbox "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultDir(), "state folder (certificates, kubeconfig, etcd data, logs, PIDs)")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "up":
		return up(ctx, fs, rest, dir, stdout, stderr)
	case "down":
		return down(ctx, fs, rest, dir, stdout)
	case "status":
		return status(ctx, fs, rest, dir, stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func up(ctx context.Context, fs *flag.FlagSet, args []string, dir *string, stdout, stderr io.Writer) error {
	nodes := fs.Int("nodes", 2, "number of fake GPU nodes (8 GPUs each)")
	sync := fs.Duration("hpa-sync-period", 15*time.Second, "kube-controller-manager --horizontal-pod-autoscaler-sync-period")
	stab := fs.Duration("hpa-downscale-stabilization", 5*time.Minute, "kube-controller-manager --horizontal-pod-autoscaler-downscale-stabilization")
	scrape := fs.Duration("scrape-interval", 15*time.Second, "Prometheus global scrape interval")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up when the cluster is not ready after this long")
	chart := fs.Bool("chart", false, "also install the chart (values/sandbox.yaml) and the stand-in GPU services, run the adapter and one exporter per node, and stay in the foreground until Ctrl-C (then stop everything)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sb, err := sandbox.New(sandbox.Options{Dir: *dir, GPUNodes: *nodes, HPASyncPeriod: *sync,
		HPADownscaleStabilization: *stab, ScrapeInterval: *scrape,
		Logf: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }})
	if err != nil {
		return err
	}
	upCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := sb.Up(upCtx); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if *chart {
		return sb.ServeGPUPlane(ctx, upCtx, stdout)
	}
	fmt.Fprintf(stdout, "sandbox up in %s\n  export KUBECONFIG=%s\n  prometheus: %s\n  logs: %s\n  stop: go run ./scripts/cmd/sandbox down --dir %s\n",
		sb.ColdStart(), sb.Kubeconfig(), sb.PrometheusURL(), filepath.Join(sb.Dir(), "logs"), sb.Dir())
	return nil
}

func down(ctx context.Context, fs *flag.FlagSet, args []string, dir *string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	sb, err := sandbox.Load(*dir)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := sb.Down(ctx); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	fmt.Fprintf(stdout, "sandbox in %s stopped in %s (logs kept in %s)\n", sb.Dir(),
		time.Since(start).Round(time.Millisecond), filepath.Join(sb.Dir(), "logs"))
	return nil
}

func status(ctx context.Context, fs *flag.FlagSet, args []string, dir *string, stdout io.Writer) error {
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sb, err := sandbox.Load(*dir)
	if err != nil {
		return err
	}
	st := sb.Status(ctx)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if err := st.Render(stdout); err != nil {
		return err
	}
	if !st.APIReady {
		return errors.New("the API server is not ready")
	}
	return nil
}
