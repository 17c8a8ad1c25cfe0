package deviceplugin

import (
	"slices"
	"strings"
	"testing"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
)

func TestConfigErrors(t *testing.T) {
	long := "/" + strings.Repeat("d", 100)
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error
	}{
		{"no node", Config{}, []string{"--node-name", "NODE_NAME"}},
		{"unknown model", Config{NodeName: "n", Model: "dgx1"}, []string{`"dgx1"`, "dgxa100, dgxh100, dgxh200"}},
		{"too many devices", Config{NodeName: "n", Devices: 65}, []string{"65 devices", "use 1..64", "--simulation-gpus", "the model's 8"}},
		{"negative devices", Config{NodeName: "n", Devices: -1}, []string{"1..64"}},
		{"kubelet's socket name", Config{NodeName: "n", SocketName: "kubelet.sock"}, []string{"kubelet.sock"}},
		{"path too long", Config{NodeName: "n", Dir: long}, []string{"--device-plugin-path", "allow 107"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !IsConfigError(err) {
				t.Fatalf("Validate() = %v, want a ConfigError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDeviceIDs(t *testing.T) {
	ids, err := Config{NodeName: "n", Model: "dgxh200", Devices: 3}.DeviceIDs()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{simuuid.UUID("n", "dgxh200", 0), simuuid.UUID("n", "dgxh200", 1), simuuid.UUID("n", "dgxh200", 2)}
	if !slices.Equal(ids, want) {
		t.Fatalf("DeviceIDs = %v, want %v", ids, want)
	}
	all, err := Config{NodeName: "n"}.DeviceIDs()
	if err != nil || len(all) != simuuid.Devices("dgxa100") {
		t.Fatalf("default DeviceIDs = %d IDs, %v: want all of dgxa100", len(all), err)
	}
}
