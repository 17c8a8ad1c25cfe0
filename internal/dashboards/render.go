package dashboards

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
)

// LoadDir loads every *.json dashboard of dir, in name order.
func LoadDir(dir string) ([]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards (*.json) in %s", dir)
	}
	var out []Dashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		d, err := Load(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Empty lists the results without data: an error or no series.
func Empty(results []Result) []Result {
	var out []Result
	for _, r := range results {
		if r.Err != nil || r.Series == 0 {
			out = append(out, r)
		}
	}
	return out
}

// Render writes one line per panel: dashboard, panel, series returned (or
// the error), as a table.
func Render(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DASHBOARD\tPANEL\tSERIES")
	for _, r := range results {
		n := fmt.Sprint(r.Series)
		switch {
		case r.Err != nil:
			n = "ERROR: " + r.Err.Error()
		case r.Series == 0:
			n = "0 (no data)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Dashboard, r.Panel, n)
	}
	return tw.Flush()
}
