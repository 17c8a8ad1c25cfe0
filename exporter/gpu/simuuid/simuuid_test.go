package simuuid

import "testing"

func TestUUIDStableAndDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, node := range []string{"node-a", "node-b"} {
		for i := range Devices("dgxa100") {
			u := UUID(node, "dgxa100", i)
			if u != UUID(node, "dgxa100", i) {
				t.Fatalf("UUID(%s, %d) is not stable", node, i)
			}
			if len(u) != len("GPU-")+36 || u[:4] != "GPU-" {
				t.Fatalf("UUID(%s, %d) = %q: want GPU-<uuid>", node, i, u)
			}
			key := node + "/" + string(rune('0'+i))
			if prev, dup := seen[u]; dup {
				t.Fatalf("UUID %s for %s and %s", u, prev, key)
			}
			seen[u] = key
		}
	}
	if UUID("n", "dgxa100", 0) == UUID("n", "dgxh100", 0) {
		t.Error("models share UUIDs")
	}
	if Devices("nope") != 0 {
		t.Error("unknown model has devices")
	}
}

func TestModels(t *testing.T) {
	models := Models()
	if len(models) != 3 || models[0] != "dgxa100" {
		t.Fatalf("Models() = %v", models)
	}
	for _, m := range models {
		if Devices(m) == 0 {
			t.Errorf("model %s has no devices", m)
		}
	}
}

func TestMIGUUIDStableDistinctAndPerParent(t *testing.T) {
	a, b := UUID("node-a", "dgxa100", 0), UUID("node-a", "dgxa100", 1)
	seen := map[string]bool{}
	for _, parent := range []string{a, b} {
		for m := range MaxMIGDevices {
			u := MIGUUID(parent, m)
			if u != MIGUUID(parent, m) || len(u) != len("MIG-")+36 || u[:4] != "MIG-" {
				t.Fatalf("MIGUUID(%s, %d) = %q: want a stable MIG-<uuid>", parent, m, u)
			}
			if seen[u] {
				t.Fatalf("MIGUUID(%s, %d) = %s repeats", parent, m, u)
			}
			seen[u] = true
		}
	}
}
