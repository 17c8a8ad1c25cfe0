// Package proccgroup maps a process to the Kubernetes pod and container it
// runs in, from /proc/<pid>/cgroup: cgroup v1 and v2, the cgroupfs and systemd
// drivers, containerd ("cri-containerd-<id>.scope" or "<id>") and CRI-O
// ("crio-<id>.scope") naming. The pod UID in the path
// (kubepods-<qos>-pod<uid>.slice or /kubepods/<qos>/pod<uid>/) identifies the
// pod; the container ID is the runtime's.
package proccgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotAPod means the process's cgroup names no Kubernetes pod (a host
// process, a daemon outside kubepods).
var ErrNotAPod = errors.New("cgroup names no Kubernetes pod")

// maxCgroupBytes bounds what is read of one cgroup file.
const maxCgroupBytes = 64 << 10

// Ref is the pod and container a process belongs to.
type Ref struct {
	PodUID      string // with dashes, as in metadata.uid
	ContainerID string // empty when the path stops at the pod
}

// Lookup reads <procRoot>/<pid>/cgroup and returns the pod and container of
// the process; ErrNotAPod when no line names a pod.
func Lookup(procRoot string, pid uint32) (Ref, error) {
	path := filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10), "cgroup")
	f, err := os.Open(path)
	if err != nil {
		return Ref{}, fmt.Errorf("read cgroup of pid %d: %w", pid, err)
	}
	defer f.Close()
	// Most cgroup files are a few hundred bytes: ReadAll grows from 512.
	data, err := io.ReadAll(io.LimitReader(f, maxCgroupBytes))
	if err != nil {
		return Ref{}, fmt.Errorf("read %s: %w", path, err)
	}
	ref, err := Parse(data)
	if err != nil {
		return Ref{}, fmt.Errorf("pid %d (%s): %w", pid, path, err)
	}
	return ref, nil
}

// Parse reads the content of a /proc/<pid>/cgroup file ("id:controllers:path"
// lines); the first line whose path names a pod wins.
func Parse(data []byte) (Ref, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if ref, ok := parsePath(parts[2]); ok {
			return ref, nil
		}
	}
	return Ref{}, ErrNotAPod
}

// parsePath finds the pod segment and the container segment after it.
func parsePath(p string) (Ref, bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range segs {
		uid, ok := podUID(s)
		if !ok {
			continue
		}
		ref := Ref{PodUID: uid}
		if i+1 < len(segs) {
			ref.ContainerID = containerID(segs[i+1])
		}
		return ref, true
	}
	return Ref{}, false
}

// podUID recognises "pod<uid>" (cgroupfs) and "kubepods[-<qos>]-pod<uid>.slice"
// (systemd, where the UID's dashes are underscores).
func podUID(seg string) (string, bool) {
	if rest, ok := strings.CutSuffix(seg, ".slice"); ok {
		i := strings.LastIndex(rest, "-pod")
		if !strings.HasPrefix(rest, "kubepods") || i < 0 {
			return "", false
		}
		uid := strings.ReplaceAll(rest[i+len("-pod"):], "_", "-")
		return uid, validUID(uid)
	}
	if uid, ok := strings.CutPrefix(seg, "pod"); ok && validUID(uid) {
		return uid, true
	}
	return "", false
}

// containerID strips the runtime prefix and the ".scope" suffix.
func containerID(seg string) string {
	seg = strings.TrimSuffix(seg, ".scope")
	for _, prefix := range []string{"cri-containerd-", "crio-", "docker-", "containerd-"} {
		if rest, ok := strings.CutPrefix(seg, prefix); ok {
			return rest
		}
	}
	return seg
}

func validUID(uid string) bool {
	if len(uid) != 36 {
		return false
	}
	for i, r := range uid {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if dash != (r == '-') || !dash && !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
