package demo

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestGPUsForTheDefaultScenario(t *testing.T) {
	// Peaks 4.75, 3.75, 3.75, 2.75 → 5+4+4+3 = 16 GPUs, plus 2 spare; the
	// sandbox's real node advertises 24 (values/gpu-services/sandbox.yaml).
	if n := GPUsFor(DefaultScenario()); n != 18 {
		t.Errorf("GPUsFor(default) = %d, want 18", n)
	}
	if n := GPUsFor(Scenario{Services: []ServiceLoad{{Peak: 2.5}}}); n != 5 {
		t.Errorf("GPUsFor(one service peaking at 2.5) = %d, want 5", n)
	}
}

func TestOptionsCheck(t *testing.T) {
	ok := DefaultOptions()
	if err := ok.Check(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	for name, o := range map[string]Options{
		"zero timeout": {Out: "o", Dir: "d"},
		"no folders":   {Timeout: time.Minute},
	} {
		err := o.Check()
		if !errors.Is(err, ErrInvalidInput) || strings.Contains(err.Error(), ErrInvalidInput.Error()) {
			t.Errorf("%s: error %v: want one wrapping ErrInvalidInput without repeating it", name, err)
		}
	}
}
