package images

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// The users and groups of every image, as distroless images have them:
// root, nobody (65534) and nonroot (65532).
const (
	passwdFile = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	groupFile = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"nonroot:x:65532:\n"
	// Name service lookups from files, hosts also from DNS (glibc's and Go's
	// resolvers both read it).
	nsswitchFile = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n" +
		"networks: files\nprotocols: files\nservices: files\n"
	// defaultPath is every image's PATH.
	defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// baseEntries are the files and folders of every image's first layer.
func baseEntries() []Entry {
	return []Entry{
		fileEntry("etc/passwd", 0o644, passwdFile),
		fileEntry("etc/group", 0o644, groupFile),
		fileEntry("etc/nsswitch.conf", 0o644, nsswitchFile),
		dirEntry("root", 0o700),
		{Path: "home/nonroot", Mode: fs.ModeDir | 0o700, UID: 65532, GID: 65532},
		dirEntry("tmp", fs.ModeSticky|0o777),
	}
}

// bundleEntry concatenates the regular files below b.From whose names end in
// b.Suffix, sorted by path, each ending in a newline, into the file b.To.
func bundleEntry(b Bundle, files []Entry) (Entry, error) {
	var parts []Entry
	for _, f := range files {
		if f.Mode.IsRegular() && strings.HasPrefix(f.Path, b.From) && strings.HasSuffix(f.Path, b.Suffix) {
			parts = append(parts, f)
		}
	}
	if len(parts) == 0 {
		return Entry{}, fmt.Errorf("bundle %s: no files %s*%s in the package", b.To, b.From, b.Suffix)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Path < parts[j].Path })
	var sb strings.Builder
	for _, p := range parts {
		sb.Write(p.Data)
		if len(p.Data) > 0 && p.Data[len(p.Data)-1] != '\n' {
			sb.WriteByte('\n')
		}
	}
	return fileEntry(b.To, 0o644, sb.String()), nil
}

// statusEntry records an installed package the way distroless images do
// (var/lib/dpkg/status.d/NAME), so that image scanners see its version.
func statusEntry(name, source, version, arch string) Entry {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Package: %s\n", name)
	if source != "" && source != name {
		fmt.Fprintf(&sb, "Source: %s\n", source)
	}
	fmt.Fprintf(&sb, "Version: %s\nArchitecture: %s\n", version, arch)
	return fileEntry("var/lib/dpkg/status.d/"+name, 0o644, sb.String())
}
