package demo

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNodesForTheDefaultScenario(t *testing.T) {
	// Peaks 4.75, 3.75, 3.75, 2.75 → 5+4+4+3 = 16 GPUs, plus 2 spare: 3 nodes of 8.
	if n := NodesFor(DefaultScenario()); n != 3 {
		t.Errorf("NodesFor(default) = %d, want 3", n)
	}
	small := Scenario{Services: []ServiceLoad{{Peak: 2.5}}}
	if n := NodesFor(small); n != 2 {
		t.Errorf("NodesFor(one small service) = %d, want the minimum 2", n)
	}
}

func TestOptionsCheck(t *testing.T) {
	ok := DefaultOptions()
	if err := ok.Check(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	for name, o := range map[string]Options{
		"negative nodes": {Out: "o", Dir: "d", Nodes: -1, Timeout: time.Minute},
		"zero timeout":   {Out: "o", Dir: "d"},
		"no folders":     {Timeout: time.Minute},
	} {
		err := o.Check()
		if !errors.Is(err, ErrInvalidInput) || strings.Contains(err.Error(), ErrInvalidInput.Error()) {
			t.Errorf("%s: error %v: want one wrapping ErrInvalidInput without repeating it", name, err)
		}
	}
}
