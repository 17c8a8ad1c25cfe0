package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// Options of one demo run.
type Options struct {
	// Out receives the plot (scaling.png), the samples, the summary, the
	// doctor report and helm's log.
	Out string
	// Dir is the sandbox state folder.
	Dir string
	// Keep leaves the sandbox running at the end until ctx is cancelled.
	Keep bool
	// Speed plays the scenario's ramps and holds this many times faster.
	Speed float64
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Production runs the ProductionProfile (the seed's windows in real
	// time) instead of the CompressedProfile.
	Production bool
	// Stdout receives the live lines and the report.
	Stdout io.Writer
}

// DefaultOptions are the defaults of `make demo`: output in <repo>/out/demo,
// state in <repo>/.sandbox, normal speed, 20 minutes at most.
func DefaultOptions() Options {
	o := Options{Out: filepath.Join("out", "demo"), Dir: ".sandbox", Speed: 1, Timeout: 20 * time.Minute, Stdout: os.Stdout}
	if root, err := repo.Root(); err == nil {
		o.Out, o.Dir = filepath.Join(root, "out", "demo"), filepath.Join(root, ".sandbox")
	}
	return o
}

// Outcome is how a run ended; the command maps it to its exit code.
type Outcome int

const (
	// Passed: every service scaled up and back down as its load implied, and
	// doctor found no failure.
	Passed Outcome = iota
	// Failed: a service did not, doctor failed, or the run broke down.
	Failed
	// Misfit: the scenario does not fit the HPAs the chart deployed.
	Misfit
	// Interrupted: ctx was cancelled (Ctrl-C); the sandbox was torn down,
	// or left running with Keep.
	Interrupted
)

// ErrInvalidInput wraps problems found before anything starts (options,
// scenario, binaries not built); nothing was started.
var ErrInvalidInput = errors.New("invalid demo input")

// inputError says what is wrong in the words the user needs; it matches
// ErrInvalidInput without repeating it.
type inputError struct{ err error }

func (e inputError) Error() string        { return e.err.Error() }
func (e inputError) Is(target error) bool { return target == ErrInvalidInput }
func (e inputError) Unwrap() error        { return e.err }

func invalid(format string, a ...any) error { return inputError{fmt.Errorf(format, a...)} }

// Check validates the options.
func (o Options) Check() error {
	switch {
	case o.Timeout <= 0:
		return invalid("--timeout %s: want a positive duration", o.Timeout)
	case o.Out == "" || o.Dir == "":
		return invalid("the output and state folders must be set")
	case o.Production && o.Speed != 1:
		return invalid("--scenario-speed %v with --production: the production profile plays in real time; leave the speed at 1", o.Speed)
	}
	if sc, err := o.Profile().Scenario.Scaled(o.Speed); err == nil && o.Timeout < sc.MinDuration() {
		return invalid("--timeout %s: the %s scenario alone takes at least %s (at most %s); raise it", o.Timeout, o.Profile().Name,
			sc.MinDuration(), sc.MaxDuration())
	}
	return nil
}

// Profile is the profile the options select.
func (o Options) Profile() Profile {
	if o.Production {
		return ProductionProfile()
	}
	return CompressedProfile()
}

// Run plays the demo end to end: sandbox up, chart and stand-in services
// installed, the scenario driven and judged, doctor, teardown. Cancelling
// ctx interrupts it (the sandbox is torn down first, unless Keep). A
// non-nil error means invalid input and nothing was started; otherwise the
// Outcome says how it ended, with the details on Stdout.
func Run(ctx context.Context, o Options) (Outcome, error) {
	if err := o.Check(); err != nil {
		return Failed, err
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if err := checkPrerequisites(ctx, o.Dir); err != nil {
		return Failed, inputError{err}
	}
	profile := o.Profile()
	sc, err := profile.Scenario.Scaled(o.Speed)
	if err == nil {
		err = sc.Validate()
	}
	if err != nil {
		return Failed, inputError{err}
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	d := &demoRun{o: o, profile: profile, sc: sc, out: o.Stdout, start: time.Now(), parent: ctx}
	return d.run(runCtx), nil
}

// checkPrerequisites says, before anything starts, what is not built or
// what the machine lacks for the sandbox's real node, and what to run.
func checkPrerequisites(ctx context.Context, dir string) error {
	if _, err := prereq.FindBinary(prereq.Helm); err != nil {
		return fmt.Errorf("%w; `make demo` builds everything first", err)
	}
	sb, err := sandbox.New(sandbox.Options{Dir: dir})
	if err != nil {
		return err
	}
	if err := sb.Check(ctx); err != nil {
		return fmt.Errorf("%w; `make demo` builds everything first", err)
	}
	return nil
}
