package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// procStatus returns VmRSS and VmHWM (peak) of pid in MiB.
func procStatus(t *testing.T, pid int) (rss, hwm float64) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("cannot read /proc/<pid>/status: %v", err)
	}
	r, ok1 := statusKiB(string(status), "VmRSS")
	h, ok2 := statusKiB(string(status), "VmHWM")
	if !ok1 || !ok2 {
		t.Fatalf("VmRSS/VmHWM missing from /proc/%d/status", pid)
	}
	return float64(r) / 1024, float64(h) / 1024
}

// openSockets counts the sockets pid has open (listener and accepted
// connections).
func openSockets(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("cannot list %s: %v", dir, err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// settledSockets waits until the count of pid's sockets has not changed for
// a second and returns it. Go's server keeps a connection it refused open for
// half a second after answering (closeWriteAndWait), so a shorter quiet time
// could count such a connection as the server's own.
func settledSockets(t *testing.T, pid int) int {
	t.Helper()
	const quiet, limit = time.Second, 10 * time.Second
	last, since, deadline := openSockets(t, pid), time.Now(), time.Now().Add(limit)
	for time.Since(since) < quiet && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if n := openSockets(t, pid); n != last {
			last, since = n, time.Now()
		}
	}
	return last
}

// TestBinaryMemoryBoundedUnderAttack reproduces the tester's attacks on the
// real binary: 100 connections each sending an unfinished 1 MB header
// (before: 16 → 232 MB of RSS), and many idle connections. It logs the RSS
// and checks that headers are cut at the limit (431), that connections
// beyond --web.max-connections are not accepted, that the peak RSS stays far
// below the pod's 128 MiB limit, and that scrapes are served during the
// header attack and after the connection flood.
func TestBinaryMemoryBoundedUnderAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	const maxConns = 64
	// Far above what the exporter needs (~20 MiB) and far below what the
	// unbounded server reached (232 MB) and the pod limit (128 MiB).
	const boundMiB = 64
	cmd, addr, stderr := startBinary(t, "--web.listen-address=127.0.0.1:0", "--backend=simulated", "--pod-resources-socket=",
		"--node-name=n", "--collection-interval=5s", fmt.Sprintf("--web.max-connections=%d", maxConns))
	pid := cmd.Process.Pid
	// No keep-alive: an idle scrape connection would hold one of the slots.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	scrape := func() error {
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "gpu_utilization_percent") {
			return fmt.Errorf("/metrics = %d, %d bytes", resp.StatusCode, len(body))
		}
		return nil
	}
	// "serving" is logged before the first collection ends: wait for the
	// series (a loaded machine can take a while).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := scrape()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no GPU series within 30s: %v; %s", err, stderr.String())
		}
	}
	rss, hwm := procStatus(t, pid)
	t.Logf("before the attacks: VmRSS %.1f MiB, VmHWM %.1f MiB", rss, hwm)
	// The listener and whatever else the server holds at rest; the scrape's
	// connection is closed by then.
	baseSockets := settledSockets(t, pid)

	// Attack 1: 100 connections, each writing a 1 MB header that never ends.
	var wg sync.WaitGroup
	answers := make(chan string, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				answers <- "dial: " + err.Error()
				return
			}
			defer c.Close()
			go func() {
				_, _ = io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ")
				chunk := strings.Repeat("a", 64<<10)
				for range 16 { // 1 MiB, never followed by the end of the header
					if _, err := io.WriteString(c, chunk); err != nil {
						return // the server closed the connection
					}
				}
			}()
			status, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				answers <- "closed: " + err.Error()
				return
			}
			answers <- strings.TrimSpace(status)
		}()
	}
	var scrapeErrs []error
	for range 20 {
		if err := scrape(); err != nil {
			scrapeErrs = append(scrapeErrs, err)
		}
	}
	wg.Wait()
	close(answers)
	got431 := 0
	for a := range answers {
		if strings.HasPrefix(a, "HTTP/1.1 431") {
			got431++
		} else if !strings.HasPrefix(a, "closed: ") { // a reset before the 431 was read
			t.Errorf("a 1 MB header was answered %q", a)
		}
	}
	rss, hwm = procStatus(t, pid)
	t.Logf("after 100 × 1 MB headers: VmRSS %.1f MiB, VmHWM (peak) %.1f MiB; %d answered 431, the rest reset", rss, hwm, got431)
	if len(scrapeErrs) > 0 {
		t.Errorf("%d of 20 scrapes during the header attack failed: %v", len(scrapeErrs), scrapeErrs[0])
	}
	if got431 == 0 {
		t.Errorf("no oversize header was answered 431")
	}
	if hwm > boundMiB {
		t.Errorf("peak RSS %.1f MiB under the header attack, want < %d MiB", hwm, boundMiB)
	}

	// Attack 2: 500 connections that send half a request and wait. It
	// starts once the header attack's connections are closed, or they would
	// hide flood connections the limit let in.
	if n := settledSockets(t, pid); n > baseSockets {
		t.Fatalf("%d sockets still open a second after the header attack, %d at rest", n, baseSockets)
	}
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 500 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Logf("dial %d: %v", len(flood), err)
			break
		}
		_, _ = io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n")
		flood = append(flood, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for openSockets(t, pid) < baseSockets+maxConns {
		if time.Now().After(deadline) {
			t.Fatalf("the exporter accepted only %d of %d connections", openSockets(t, pid)-baseSockets, len(flood))
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for a broken limit to accept more
	accepted := openSockets(t, pid) - baseSockets
	rss, hwm = procStatus(t, pid)
	t.Logf("with %d idle connections open: %d accepted (limit %d), VmRSS %.1f MiB, VmHWM (peak) %.1f MiB", len(flood), accepted, maxConns, rss, hwm)
	if accepted > maxConns {
		t.Errorf("%d connections accepted with --web.max-connections=%d", accepted, maxConns)
	}
	if hwm > boundMiB {
		t.Errorf("peak RSS %.1f MiB under the connection flood, want < %d MiB", hwm, boundMiB)
	}
	for _, c := range flood {
		c.Close()
	}
	flood = nil
	if err := scrape(); err != nil {
		t.Fatalf("scrape after the flood: %v\n%s", err, stderr.String())
	}
}
