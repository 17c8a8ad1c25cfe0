package chart_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// chartMetadata is the part of Chart.yaml that chart consumers and Artifact Hub read.
type chartMetadata struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	KubeVersion string            `json:"kubeVersion"`
	Home        string            `json:"home"`
	Sources     []string          `json:"sources"`
	Maintainers []map[string]any  `json:"maintainers"`
	Annotations map[string]string `json:"annotations"`
}

func readChartMetadata(t *testing.T, chart string) chartMetadata {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartPath(t, chart), "Chart.yaml"))
	require.NoError(t, err)
	var m chartMetadata
	require.NoError(t, yaml.Unmarshal(data, &m))
	return m
}

// annotationList decodes an Artifact Hub annotation holding a YAML list of objects.
func annotationList(t *testing.T, m chartMetadata, key string) []map[string]string {
	t.Helper()
	raw, ok := m.Annotations[key]
	require.True(t, ok, "%s: Chart.yaml has no %s annotation", m.Name, key)
	var out []map[string]string
	require.NoError(t, yaml.UnmarshalStrict([]byte(raw), &out), "%s: annotation %s", m.Name, key)
	require.NotEmpty(t, out, "%s: annotation %s is empty", m.Name, key)
	return out
}

// TestChartMetadataForConsumers checks what `helm show chart`, chart repositories and Artifact Hub show
// for both published charts: kubeVersion, home, sources, maintainers, license, links; the images
// annotation equals the images the chart renders; the changes annotation is this version's CHANGELOG.md
// section.
func TestChartMetadataForConsumers(t *testing.T) {
	t.Parallel()
	changelog, err := os.ReadFile(filepath.Join(repoRoot(t), "CHANGELOG.md"))
	require.NoError(t, err)
	license, err := os.ReadFile(filepath.Join(repoRoot(t), "LICENSE"))
	require.NoError(t, err)
	require.Contains(t, string(license), "Apache License\n                           Version 2.0, January 2004")
	for chart, req := range map[string]renderRequest{
		"gpu-autoscaling": {},
		// Its device plugin is off by default; its image is still the chart's.
		"gpu-services": {chart: "gpu-services", set: map[string]string{"devicePlugin.enabled": "true"}},
	} {
		t.Run(chart, func(t *testing.T) {
			t.Parallel()
			m := readChartMetadata(t, chart)
			c, err := semver.NewConstraint(m.KubeVersion)
			require.NoError(t, err, "kubeVersion %q", m.KubeVersion)
			assert.True(t, c.Check(semver.MustParse("1.23.0")) && !c.Check(semver.MustParse("1.22.17")),
				"kubeVersion %q: the charts need autoscaling/v2 and policy/v1 (1.23) and nothing newer", m.KubeVersion)
			assert.True(t, strings.HasPrefix(m.Home, "https://"), "home %q", m.Home)
			assert.Contains(t, m.Sources, m.Home, "sources list the project")
			require.NotEmpty(t, m.Maintainers)
			for _, mt := range m.Maintainers {
				assert.NotEmpty(t, mt["name"], "maintainer %v has no name", mt)
			}
			assert.Equal(t, "Apache-2.0", m.Annotations["artifacthub.io/license"])
			for _, l := range annotationList(t, m, "artifacthub.io/links") {
				assert.True(t, l["name"] != "" && strings.HasPrefix(l["url"], "https://"), "link %v", l)
			}

			var rendered []string
			for _, tpl := range podTemplates(decodeAll(t, render(t, req))) {
				for _, c := range slices.Concat(tpl.Spec.InitContainers, tpl.Spec.Containers) {
					if !slices.Contains(rendered, c.Image) {
						rendered = append(rendered, c.Image)
					}
				}
			}
			var annotated []string
			for _, img := range annotationList(t, m, "artifacthub.io/images") {
				assert.NotEmpty(t, img["name"], "image entry %v has no name", img)
				annotated = append(annotated, img["image"])
			}
			slices.Sort(rendered)
			slices.Sort(annotated)
			assert.Equal(t, rendered, annotated, "artifacthub.io/images must list exactly the images the chart renders")

			section := changelogSection(string(changelog), chart, m.Version)
			require.NotEmpty(t, section, "CHANGELOG.md has no section ## %s / ### %s", chart, m.Version)
			for _, ch := range annotationList(t, m, "artifacthub.io/changes") {
				require.Contains(t, []string{"added", "changed", "deprecated", "removed", "fixed", "security"}, ch["kind"], "change %v", ch)
				entry := "- " + strings.ToUpper(ch["kind"][:1]) + ch["kind"][1:] + ": " + ch["description"]
				assert.Contains(t, section, entry+"\n", "CHANGELOG.md's %s %s section lacks the annotated change", chart, m.Version)
			}
		})
	}
}

// changelogSection returns the lines of CHANGELOG.md under "## chart" and "### version", up to the next heading.
func changelogSection(doc, chart, version string) string {
	var out strings.Builder
	inChart, inVersion := false, false
	for _, line := range strings.SplitAfter(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			inChart, inVersion = strings.TrimSpace(line) == "## "+chart, false
		case strings.HasPrefix(line, "### "):
			inVersion = inChart && strings.TrimSpace(line) == "### "+version
		case inVersion:
			out.WriteString(line)
		}
	}
	return out.String()
}
