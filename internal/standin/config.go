package standin

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// Config is what Run needs. Zero durations and a nil Logger take defaults.
type Config struct {
	Service          string        // service name, the key in the load file (required)
	ListenAddress    string        // HTTP address, e.g. ":8080"
	LoadFile         string        // the mounted load file
	ReloadInterval   time.Duration // how often the load file is re-read; default 2s
	MaxCPUMillicores float64       // CPU targets above this are clamped
	MaxMemoryMiB     float64       // memory targets above this are clamped
	ServiceTime      time.Duration // an idle pod's response time; default 10ms
	CapacityRPS      float64       // requests per second at which a pod saturates; default 20

	CPUPeriod       time.Duration // duty-cycle period of the burner; default 100ms
	BallastInterval time.Duration // how often RSS is steered; default 500ms
	ShutdownTimeout time.Duration // graceful HTTP shutdown; default 10s
	Logger          *slog.Logger
}

// ConfigError is a configuration mistake the user has to fix (a bad flag).
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string { return e.msg }

// IsConfigError reports whether err is (or wraps) a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

func configErrorf(format string, a ...any) error {
	return &ConfigError{msg: fmt.Sprintf(format, a...)}
}

// Validate checks c; the error, if any, is a ConfigError saying what to fix.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case strings.TrimSpace(c.Service) == "":
		return c, configErrorf("service name is empty: set --service or the SERVICE_NAME environment variable (the key of this service in the load file)")
	case c.ListenAddress == "":
		return c, configErrorf("listen address is empty: set --listen-address, e.g. :8080")
	case c.LoadFile == "":
		return c, configErrorf("load file is empty: set --load-file to the mounted ConfigMap's file")
	case c.ReloadInterval < 0:
		return c, configErrorf("reload interval %s: use a positive duration such as 2s", c.ReloadInterval)
	case !(c.MaxCPUMillicores > 0) || c.MaxCPUMillicores > maxCPUCap:
		return c, configErrorf("max CPU %g millicores: use a number in (0, %d] for --max-cpu-millicores", c.MaxCPUMillicores, maxCPUCap)
	case !(c.MaxMemoryMiB > 0) || c.MaxMemoryMiB > maxMemoryCap:
		return c, configErrorf("max memory %g MiB: use a number in (0, %d] for --max-memory-mib", c.MaxMemoryMiB, maxMemoryCap)
	case c.ServiceTime < 0 || c.ServiceTime > maxServiceTime:
		return c, configErrorf("service time %s: use a duration in (0, %s] for --service-time, e.g. 10ms", c.ServiceTime, maxServiceTime)
	case !(c.CapacityRPS >= 0) || math.IsInf(c.CapacityRPS, 1):
		return c, configErrorf("capacity %g requests per second: use a positive number for --capacity-rps, e.g. 20", c.CapacityRPS)
	}
	c.ServiceTime = orDefault(c.ServiceTime, 10*time.Millisecond)
	if c.CapacityRPS == 0 {
		c.CapacityRPS = 20
	}
	c.ReloadInterval = orDefault(c.ReloadInterval, 2*time.Second)
	c.CPUPeriod = orDefault(c.CPUPeriod, 100*time.Millisecond)
	c.BallastInterval = orDefault(c.BallastInterval, 500*time.Millisecond)
	c.ShutdownTimeout = orDefault(c.ShutdownTimeout, 10*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Caps on the caps: a stand-in never needs more than this, and a typo must
// not make it burn a whole machine.
const (
	maxCPUCap      = 16000
	maxMemoryCap   = 64 * 1024
	maxServiceTime = time.Second
)

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
