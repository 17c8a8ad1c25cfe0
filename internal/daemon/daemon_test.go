package daemon

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	parse := func(args []string, _ func(string) string, _ io.Writer) (string, error) {
		switch args[0] {
		case "-h":
			return "", flag.ErrHelp
		case "bad":
			return "", errors.New("--x: want a number")
		}
		return args[0], nil
	}
	serve := func(_ context.Context, cfg string, log *slog.Logger) error {
		if cfg == "fail" {
			return errors.New("socket gone")
		}
		return nil
	}
	for arg, want := range map[string]int{"-h": ExitOK, "bad": ExitUsage, "fail": ExitFailed, "ok": ExitOK} {
		var stderr bytes.Buffer
		if got := Run(context.Background(), "prog", []string{arg}, nil, &stderr, parse, serve); got != want {
			t.Errorf("%s: exit %d, want %d", arg, got, want)
		}
		if arg == "bad" && stderr.String() != "prog: --x: want a number\n" {
			t.Errorf("bad flags: stderr %q, want one line naming the program", stderr.String())
		}
		if arg == "fail" && !strings.Contains(stderr.String(), "socket gone") {
			t.Errorf("failure not logged: %q", stderr.String())
		}
	}
}
