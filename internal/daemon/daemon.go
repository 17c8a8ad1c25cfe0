// Package daemon is the main loop of the project's long-running programs
// that run in containers (the fake GPU device plugin, the stand-in GPU
// service): flags in, exit codes out, logs on stderr.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// Exit codes of every daemon.
const (
	ExitOK     = 0 // stopped cleanly (SIGTERM/SIGINT), or -h
	ExitFailed = 1 // a runtime failure, logged
	ExitUsage  = 2 // bad flags: one line saying what to fix
)

// Run parses args with parse, then serves with serve until ctx ends, and
// returns the exit code. parse returns flag.ErrHelp for -h.
func Run[C any](ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer,
	parse func([]string, func(string) string, io.Writer) (C, error),
	serve func(context.Context, C, *slog.Logger) error) int {
	cfg, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, cfg, log); err != nil {
		log.Error(name+" failed", "err", err)
		return ExitFailed
	}
	return ExitOK
}
