//go:build !linux

package standin

import "time"

// threadCPUTime is unavailable here: the burner falls back to wall time.
func threadCPUTime() (time.Duration, bool) { return 0, false }

// processCPUTime is unavailable here: the burner does not compensate for
// the rest of the process.
func processCPUTime() (time.Duration, bool) { return 0, false }
