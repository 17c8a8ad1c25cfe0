package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

func TestOfflineKubeVersionFollowsClientGo(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var clientGo string
	for _, r := range mod.Require {
		if r.Mod.Path == "k8s.io/client-go" {
			clientGo = r.Mod.Version
		}
	}
	minor := strings.Split(strings.TrimPrefix(clientGo, "v0."), ".")[0]
	if kv := OfflineKubeVersion(); clientGo == "" || kv.Minor != minor || kv.Version != "v1."+minor+".0" {
		t.Errorf("OfflineKubeVersion() %+v does not follow go.mod's k8s.io/client-go %s (want v1.%s.0)", kv, clientGo, minor)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`helm/v3/pkg/[a-z/]+\.k8sVersionMinor=(\d+)`).FindAllStringSubmatch(string(makefile), -1) {
		if m[1] != minor {
			t.Errorf("the Makefile builds helm assuming Kubernetes 1.%s offline, go.mod's client-go is 1.%s", m[1], minor)
		}
	}
}
