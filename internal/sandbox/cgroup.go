package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroupMount is where the machine mounts its cgroup hierarchies (v1 per
// controller, plus the empty cgroup2 "unified" mount in hybrid mode).
const cgroupMount = "/sys/fs/cgroup"

// ownMemoryCgroup is the memory cgroup this process runs in: the machine
// accounts for (and ends) what runs there, so the node's containers must
// stay below it.
func ownMemoryCgroup() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), "memory") {
			return parts[2], nil
		}
	}
	return "", errors.New("no memory cgroup in /proc/self/cgroup: the real node needs cgroup v1 with the memory controller (or run the sandbox with KwokOnly)")
}

// cgroupHierarchies lists the mounted hierarchies under /sys/fs/cgroup.
func cgroupHierarchies() ([]string, error) {
	entries, err := os.ReadDir(cgroupMount)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", cgroupMount, err)
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(cgroupMount, e.Name())
		var st unix.Statfs_t
		if !e.IsDir() || unix.Statfs(p, &st) != nil {
			continue
		}
		if st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC {
			out = append(out, p)
		}
	}
	return out, nil
}

// createCgroupRoot makes <own memory cgroup>/<name> exist in every
// hierarchy (the kubelet checks that its cgroupRoot exists; runc creates the
// path in the unified mount too), copying cpuset.cpus/mems into new cpuset
// cgroups. It returns the folders it created, in creation order, and the
// cgroupRoot. It never remounts or touches a hierarchy's root.
func createCgroupRoot(name string) (created []string, root string, err error) {
	memcg, err := ownMemoryCgroup()
	if err != nil {
		return nil, "", err
	}
	root = filepath.Join(memcg, name)
	hs, err := cgroupHierarchies()
	if err != nil {
		return nil, "", err
	}
	for _, h := range hs {
		d := h
		for _, part := range strings.Split(strings.Trim(root, "/"), "/") {
			parent := d
			d = filepath.Join(d, part)
			if _, err := os.Stat(d); err == nil {
				continue
			}
			if err := os.Mkdir(d, 0o755); err != nil {
				return created, root, fmt.Errorf("create cgroup %s: %w", d, err)
			}
			created = append(created, d)
			if err := inheritCpuset(parent, d); err != nil {
				return created, root, err
			}
		}
	}
	return created, root, nil
}

// inheritCpuset gives a new cpuset cgroup its parent's CPUs and memory
// nodes (a new v1 cpuset cgroup starts empty and takes no tasks).
func inheritCpuset(parent, dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		v, err := os.ReadFile(filepath.Join(parent, f))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", filepath.Join(parent, f), err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, f), err)
		}
	}
	return nil
}

// removeCgroupRoot removes the (empty) cgroups the kubelet left below root
// in every hierarchy, deepest first, then the folders createCgroupRoot made.
// A cgroup that still holds tasks cannot be removed: that is reported.
func removeCgroupRoot(root string, created []string) error {
	if root == "" {
		return nil
	}
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hs {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := unix.Rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
			}
		}
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := unix.Rmdir(created[i]); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", created[i], err))
		}
	}
	return errors.Join(errs...)
}
