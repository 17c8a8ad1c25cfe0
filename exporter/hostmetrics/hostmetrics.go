// Package hostmetrics reads node CPU and memory usage from procfs.
package hostmetrics

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Reader computes CPU usage from successive /proc/stat readings. It is not
// safe for concurrent use: one collection loop owns it.
type Reader struct {
	procPath string
	prev     cpuTimes
}

type cpuTimes struct {
	idle, total uint64
}

// NewReader reads procfs mounted at procPath (the host's /proc, usually
// mounted into the container as /host/proc).
func NewReader(procPath string) *Reader {
	return &Reader{procPath: procPath}
}

// CPUUsagePercent returns the share of non-idle CPU time, over all CPUs,
// since the previous call (since boot on the first call).
func (r *Reader) CPUUsagePercent() (float64, error) {
	data, err := os.ReadFile(filepath.Join(r.procPath, "stat"))
	if err != nil {
		return 0, fmt.Errorf("read CPU times: %w", err)
	}
	cur, err := parseStat(data)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(r.procPath, "stat"), err)
	}
	prev := r.prev
	r.prev = cur
	if cur.total < prev.total || cur.idle < prev.idle {
		prev = cpuTimes{} // counters reset (or a different procfs): start over
	}
	dTotal := cur.total - prev.total
	if dTotal == 0 {
		return 0, nil
	}
	dIdle := cur.idle - prev.idle
	return 100 * float64(dTotal-dIdle) / float64(dTotal), nil
}

// parseStat reads the aggregate "cpu" line of /proc/stat. Idle time is idle
// plus iowait; guest time is already part of user time and is not added
// twice.
func parseStat(data []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("first line is not the aggregate cpu line: %q", line)
	}
	var vals [8]uint64
	for i := 1; i < len(fields) && i <= len(vals); i++ {
		v, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("cpu field %d: %w", i, err)
		}
		vals[i-1] = v
	}
	// user nice system idle iowait irq softirq steal
	var t cpuTimes
	for _, v := range vals {
		t.total += v
	}
	t.idle = vals[3] + vals[4]
	return t, nil
}

// MemoryUsageMB returns MemTotal - MemAvailable in MiB.
func (r *Reader) MemoryUsageMB() (float64, error) {
	path := filepath.Join(r.procPath, "meminfo")
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read memory info: %w", err)
	}
	defer f.Close()
	var total, avail uint64
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(f)
	for sc.Scan() && !(haveTotal && haveAvail) {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "MemTotal":
			dst, haveTotal = &total, true
		case "MemAvailable":
			dst, haveAvail = &avail, true
		default:
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s in %s: %w", key, path, err)
		}
		*dst = v
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	if !haveTotal || !haveAvail {
		return 0, fmt.Errorf("%s lacks MemTotal or MemAvailable", path)
	}
	if avail > total {
		avail = total
	}
	return float64(total-avail) / 1024, nil
}
