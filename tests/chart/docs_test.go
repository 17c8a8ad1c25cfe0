package chart_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "gopkg.in/yaml.v3"
)

// TestEveryValueIsDocumented checks the helm-docs convention in each chart's values.yaml: every value
// carries a `# --` comment, on itself or on the enclosing key that documents it as a whole.
func TestEveryValueIsDocumented(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	files := []string{
		"charts/gpu-autoscaling/values.yaml",
		"charts/gpu-autoscaling/charts/gpu-metrics-exporter/values.yaml",
		"charts/gpu-autoscaling/charts/custom-metrics-adapter/values.yaml",
		"charts/gpu-services/values.yaml",
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(root, f))
			require.NoError(t, err)
			var doc yamlv3.Node
			require.NoError(t, yamlv3.Unmarshal(data, &doc))
			require.Len(t, doc.Content, 1)
			var undocumented []string
			var walk func(path string, n *yamlv3.Node, documented bool)
			walk = func(path string, n *yamlv3.Node, documented bool) {
				if n.Kind != yamlv3.MappingNode {
					if !documented {
						undocumented = append(undocumented, path)
					}
					return
				}
				if len(n.Content) == 0 && !documented {
					undocumented = append(undocumented, path)
				}
				for i := 0; i+1 < len(n.Content); i += 2 {
					key, val := n.Content[i], n.Content[i+1]
					doc := documented || strings.Contains(key.HeadComment, "# --")
					walk(strings.TrimPrefix(path+"."+key.Value, "."), val, doc)
				}
			}
			walk("", doc.Content[0], false)
			assert.Empty(t, undocumented, "%s: values without a `# --` comment", f)
		})
	}
}
