package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/demo"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// exitCodes maps the demo's outcomes to the command's exit codes.
var exitCodes = map[demo.Outcome]int{
	demo.Passed: exitOK, demo.Failed: exitFailed, demo.Misfit: exitUsage, demo.Interrupted: exitInterrupted,
}

func parseFlags(args []string, stderr io.Writer) (demo.Options, error) {
	o := demo.DefaultOptions()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Out, "out", o.Out, "folder for the plot (scaling.png), the samples (samples.csv) and the reports")
	fs.StringVar(&o.Dir, "dir", o.Dir, "sandbox state folder (certificates, kubeconfig, etcd data, logs)")
	fs.BoolVar(&o.Keep, "keep", false, "leave the sandbox running at the end and print how to reach it")
	fs.Float64Var(&o.Speed, "scenario-speed", 1, "play the scenario's ramps and holds this many times faster (waits for the HPAs are not shortened)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "give up after this long in all (with --production: its scenario's longest run plus 10m)")
	fs.BoolVar(&o.Production, "production", false, "the seed's production timing in real time (make bench-production): the chart's default behavior (scale up after 300s, down after 600s, 60s policy periods), a 30s collection interval and the HPA controller's default 15s sync; about 35 minutes")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: demo [--out DIR] [--dir DIR] [--keep] [--scenario-speed F] [--timeout D] [--production]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	if o.Production && !timeoutSet {
		o.Timeout = o.Profile().Scenario.MaxDuration() + 10*time.Minute
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q (the demo takes flags only)", fs.Args())
	}
	return o, o.Check()
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return exitUsage
	}
	o.Stdout = stdout
	ctx, stop := interruptible(o, stderr)
	defer stop()
	outcome, err := demo.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return exitUsage
	}
	return exitCodes[outcome]
}

// interruptible returns a context that ends on the first SIGINT/SIGTERM, so
// the demo tears down (or, with --keep, leaves the sandbox up); a further
// signal more than two seconds later (make and the terminal both deliver
// the first) abandons the teardown.
func interruptible(o demo.Options, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first time.Time
		for {
			select {
			case <-done:
				return
			case sig := <-sigs:
				if first.IsZero() {
					first = time.Now()
					if o.Keep {
						fmt.Fprintf(stderr, "\ndemo: %s: stopping (--keep: the sandbox stays up)\n", sig)
					} else {
						fmt.Fprintf(stderr, "\ndemo: %s: stopping and tearing the sandbox down (signal again to abandon the teardown)\n", sig)
					}
					cancel()
					continue
				}
				if time.Since(first) > 2*time.Second {
					fmt.Fprintf(stderr, "demo: teardown abandoned; stop the sandbox with: go run ./scripts/cmd/sandbox down --dir %s\n", o.Dir)
					os.Exit(exitInterrupted)
				}
			}
		}
	}()
	return ctx, func() { signal.Stop(sigs); close(done); cancel() }
}
