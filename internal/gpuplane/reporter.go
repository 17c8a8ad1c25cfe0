package gpuplane

import (
	"fmt"

	"github.com/gruntwork-io/terratest/modules/logger"
	terratesting "github.com/gruntwork-io/terratest/modules/testing"
)

// NewReporter adapts a log function to Terratest's TestingT for callers that
// are not tests (the sandbox command and the demo). Only the E variants of
// Terratest are used, so the Fail methods are never reached in practice;
// they panic with the message so a misuse is loud.
func NewReporter(name string, logf func(format string, args ...any)) terratesting.TestingT {
	return reporter{name: name, logf: logf}
}

type reporter struct {
	name string
	logf func(format string, args ...any)
}

func (r reporter) Fail() { panic(r.name + ": failed") }

func (r reporter) FailNow() { panic(r.name + ": failed") }

func (r reporter) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

func (r reporter) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (r reporter) Error(args ...any) { panic(fmt.Sprint(args...)) }

func (r reporter) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (r reporter) Name() string { return r.name }

func (r reporter) Helper() {}

func (r reporter) Logf(format string, args ...any) { r.logf(format, args...) }

// reporterLogger sends Terratest's command logs to t.Logf (a test's log, or
// the reporter's log function), instead of Terratest's default stdout.
type reporterLogger struct{}

func (reporterLogger) Logf(t terratesting.TestingT, format string, args ...any) {
	if l, ok := t.(interface{ Logf(string, ...any) }); ok {
		l.Logf(format, args...)
		return
	}
	logger.Terratest.Logf(t, format, args...)
}
