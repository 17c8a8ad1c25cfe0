package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProcessState is what the state file records about one process so that a
// later `sandbox down` (another OS process) can stop it by PID.
type ProcessState struct {
	Name   string   `json:"name"`
	Binary string   `json:"binary"`
	Args   []string `json:"args"`
	PID    int      `json:"pid"`
	Log    string   `json:"log"`
}

// process is one running component. When the sandbox that started it is still
// alive, cmd is set and done closes when the process exits.
type process struct {
	ProcessState
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit error, valid after done is closed
}

// startProcess starts binary with args, stdout and stderr appended to
// <logDir>/<name>.log. The process gets its own process group so that a
// terminal's Ctrl-C reaches only the sandbox command, which then stops the
// components in order; detached processes survive the command that started
// them (`sandbox up`).
//
// launcher, when set, is a command that runs binary with args in turn (the
// kubelet's sysctl shield): the process then becomes binary by exec, and its
// recorded binary is what the PID checks compare against.
func startProcess(name, binary string, args []string, env []string, logDir string, launcher []string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log for %s: %w", name, err)
	}
	fmt.Fprintf(logFile, "==> %s %s %s\n", time.Now().Format(time.RFC3339), binary, strings.Join(args, " "))
	argv := append([]string{binary}, args...)
	if len(launcher) > 0 {
		argv = append(slices.Clone(launcher), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, binary, err)
	}
	p := &process{
		ProcessState: ProcessState{Name: name, Binary: binary, Args: args, PID: cmd.Process.Pid, Log: logPath},
		cmd:          cmd,
		done:         make(chan struct{}),
	}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether a process started by this sandbox has exited.
func (p *process) exited() bool {
	if p.done == nil {
		return !pidAlive(p.PID, p.Binary)
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes how the process ended, with the tail of its log.
func (p *process) exitError() error {
	tail := logTail(p.Log, 15)
	if p.err != nil {
		return fmt.Errorf("%s exited: %w; last log lines (%s):\n%s", p.Name, p.err, p.Log, tail)
	}
	return fmt.Errorf("%s exited; last log lines (%s):\n%s", p.Name, p.Log, tail)
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// sends SIGKILL. It works both for children of this process and for processes
// recorded in a state file by an earlier command.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	if p.done == nil && !pidAlive(p.PID, p.Binary) {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", p.Name, p.PID, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if p.exited() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.Name, p.PID, err)
	}
	for i := 0; i < 100 && !p.exited(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// pidAlive reports whether pid is a live process running binary. Checking the
// executable guards against a recycled PID belonging to something else.
func pidAlive(pid int, binary string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// A zombie (state Z) has exited; only its parent can reap it.
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		return false
	}
	want, err := filepath.EvalSymlinks(binary)
	if err != nil {
		want = binary
	}
	return strings.TrimSuffix(exe, " (deleted)") == want
}

// stopAll stops processes in parallel (a sequential clean stop of the whole
// control plane takes ~18 s; in parallel it takes as long as the slowest),
// etcd last: a kube-apiserver that loses etcd first hangs in its shutdown
// retrying it until SIGKILL.
func stopAll(procs []*process, grace time.Duration) error {
	var first, last []*process
	for _, p := range procs {
		if p.Name == "etcd" {
			last = append(last, p)
		} else {
			first = append(first, p)
		}
	}
	return errors.Join(stopParallel(first, grace), stopParallel(last, grace))
}

func stopParallel(procs []*process, grace time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.stop(grace)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// logTail returns the last n lines of a log file.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls check every interval until it returns true, ctx ends, or one
// of the watched processes exits (then its log tail is in the error).
func waitFor(ctx context.Context, what string, interval time.Duration, watch []*process, check func(context.Context) (bool, error)) error {
	var lastErr error
	for {
		for _, p := range watch {
			if p.exited() {
				return fmt.Errorf("waiting for %s: %w", what, p.exitError())
			}
		}
		ok, err := check(ctx)
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), lastErr)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// start runs a cluster binary and records it in the state.
func (s *Sandbox) start(name, bin string, args []string) (*process, error) {
	path := bin
	if p, ok := s.bins[bin]; ok {
		path = p
	}
	return s.StartProcess(name, path, args, nil)
}

// StartProcess runs an extra process as part of the sandbox (the GPU plane's
// adapter and exporters use it): its log goes to <dir>/logs/<name>.log, its
// PID into the state file, and Down stops it.
func (s *Sandbox) StartProcess(name, binary string, args, env []string) (*process, error) {
	p, err := startProcess(name, binary, args, env, s.logDir(), nil)
	if err != nil {
		return nil, err
	}
	if err := s.track(p); err != nil {
		return nil, err
	}
	return p, nil
}

// StopProcess stops the named process (SIGTERM, then SIGKILL after 5 s) and
// removes it from the state; the fault tests use it.
func (s *Sandbox) StopProcess(name string) error {
	s.mu.Lock()
	var found *process
	kept := s.procs[:0]
	for _, p := range s.procs {
		if p.Name == name && found == nil {
			found = p
			continue
		}
		kept = append(kept, p)
	}
	s.procs = kept
	s.mu.Unlock()
	if found == nil {
		return fmt.Errorf("no sandbox process named %q", name)
	}
	if err := found.stop(5 * time.Second); err != nil {
		return err
	}
	return s.saveState()
}

// KillProcess sends SIGKILL to the named process, as a crash would, and
// waits for it to exit.
func (s *Sandbox) KillProcess(name string) error {
	p := s.process(name)
	if p == nil {
		return fmt.Errorf("no sandbox process named %q", name)
	}
	if err := p.stop(0); err != nil {
		return err
	}
	return s.StopProcess(name)
}

// ProcessRunning reports whether the named process is alive.
func (s *Sandbox) ProcessRunning(name string) bool {
	p := s.process(name)
	return p != nil && !p.exited()
}

func (s *Sandbox) process(name string) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// track records a started process in the sandbox and its state file, so
// that Down (from this or another process) stops it.
func (s *Sandbox) track(p *process) error {
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return s.saveState()
}
