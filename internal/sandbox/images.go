package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/medical-kg/gpu-autoscaling/internal/images"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

// imageArchives lists the archives `make images` wrote for every image of
// the project's catalog; a missing one is a missing prerequisite.
func imageArchives(dir string) ([]images.Result, error) {
	built, err := images.ReadDigests(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: no image archives in %s: %v", prereq.ErrMissing, dir, err)
	}
	have := map[string]images.Result{}
	for _, r := range built {
		have[r.Name] = r
	}
	var out []images.Result
	var missing []string
	for _, spec := range images.Catalog() {
		r, ok := have[spec.Name]
		if _, err := os.Stat(r.Archive); !ok || err != nil {
			missing = append(missing, spec.Name)
			continue
		}
		out = append(out, r)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: images %s not built in %s (run `make images`)", prereq.ErrMissing, strings.Join(missing, ", "), dir)
	}
	return out, nil
}

// importImages loads every image archive into the node's containerd, in
// the namespace the CRI uses; pods then start with no registry at all.
func (s *Sandbox) importImages(ctx context.Context) error {
	archives, err := imageArchives(s.opts.ImagesDir)
	if err != nil {
		return err
	}
	for _, a := range archives {
		cmd := exec.CommandContext(ctx, s.bins[prereq.Ctr], "--address", s.state.Node.containerdSocket(),
			"--namespace", "k8s.io", "images", "import", a.Archive)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("import %s into containerd: %w: %s", a.Archive, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
