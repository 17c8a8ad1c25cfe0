package standin

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ballastChunk is the unit the ballast grows and shrinks by.
const ballastChunk = 1 << 20

// ballast holds touched memory so that the process's resident set size
// approaches a target. It measures RSS itself, so the runtime's and the
// program's own memory count towards the target; a target below the natural
// baseline leaves the ballast empty.
type ballast struct {
	rss    func() (uint64, error)
	chunks [][]byte
	size   atomic.Int64  // bytes held
	target atomic.Uint64 // bytes of RSS wanted
}

func newBallast(rss func() (uint64, error)) *ballast { return &ballast{rss: rss} }

func (b *ballast) setTarget(bytes uint64) { b.target.Store(bytes) }
func (b *ballast) targetBytes() uint64    { return b.target.Load() }
func (b *ballast) bytes() int64           { return b.size.Load() }

// adjust moves RSS one step toward the target: it adds the whole chunks RSS
// lacks (rounded down; the runtime's bookkeeping may add a little more) or,
// when RSS is more than two chunks above the target, drops the chunks it
// exceeds by and returns the freed memory to the OS. The two-chunk slack
// keeps it from oscillating.
func (b *ballast) adjust() error {
	rss, err := b.rss()
	if err != nil {
		return err
	}
	target := b.targetBytes()
	switch {
	case target >= rss+ballastChunk:
		for range (target - rss) / ballastChunk {
			chunk := make([]byte, ballastChunk)
			for i := 0; i < len(chunk); i += os.Getpagesize() {
				chunk[i] = 1 // touch every page so it is resident
			}
			b.chunks = append(b.chunks, chunk)
		}
	case rss > target+2*ballastChunk && len(b.chunks) > 0:
		drop := min(int((rss-target)/ballastChunk), len(b.chunks))
		keep := len(b.chunks) - drop
		clear(b.chunks[keep:])
		b.chunks = b.chunks[:keep:keep]
		debug.FreeOSMemory()
	default:
		return nil
	}
	b.size.Store(int64(len(b.chunks)) * ballastChunk)
	return nil
}

// run adjusts the ballast every interval until ctx ends; errors (an
// unreadable /proc) are reported to onError.
func (b *ballast) run(ctx context.Context, interval time.Duration, onError func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := b.adjust(); err != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// selfRSS is this process's resident set size from /proc/self/statm.
func selfRSS() (uint64, error) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read own RSS: %w", err)
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0, fmt.Errorf("read own RSS: /proc/self/statm %q has no resident field", data)
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read own RSS: resident pages %q: %w", fields[1], err)
	}
	return pages * uint64(os.Getpagesize()), nil
}
