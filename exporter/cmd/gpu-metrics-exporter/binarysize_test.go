package main

import (
	"debug/elf"
	"debug/gosym"
	"os"
	"strings"
	"testing"
)

// templateExecution names functions that are in the binary only when a
// template is executed somewhere reachable. Executing a template calls
// reflect.Value.MethodByName with a name known only at run time, and that
// turns off the linker's dead-method elimination for the whole program:
// every exported method of every reachable type is kept. It cost this
// exporter 4 MB of binary and about 3.5 MiB of resident memory, through
// exporter-toolkit's landing page and version.Print (text/template) and
// go-conntrack's golang.org/x/net/trace (html/template). landing.go,
// main.go's --version and exporter/conntrackshim keep them out.
var templateExecution = []string{
	"text/template.(*state).evalField",
	"text/template.(*state).evalCall",
	"html/template.(*Template).Execute",
}

// TestBinaryKeepsDeadMethodElimination reads the function table of the
// shipped binary (stripped binaries keep .gopclntab) and fails naming any
// template-executing function that has become reachable again.
func TestBinaryKeepsDeadMethodElimination(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("open %s: %v", bin, err)
	}
	defer f.Close()
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		t.Fatalf("%s has no .gopclntab or .text section", bin)
	}
	data, err := pcln.Data()
	if err != nil {
		t.Fatalf("read .gopclntab: %v", err)
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		t.Fatalf("parse .gopclntab: %v", err)
	}
	if len(table.Funcs) < 1000 || table.LookupFunc("main.run") == nil {
		t.Fatalf("the function table lists %d functions and no main.run: not the exporter's", len(table.Funcs))
	}
	for _, name := range templateExecution {
		if table.LookupFunc(name) != nil {
			t.Errorf("%s is in the binary: a template is executed on a reachable path, which turns off dead-method elimination (find the caller with go build -ldflags=-dumpdep)", name)
		}
	}
	for _, fn := range table.Funcs {
		if strings.HasPrefix(fn.Name, "golang.org/x/net/trace.") {
			t.Errorf("golang.org/x/net/trace is linked (%s): it executes html/template and registers /debug/requests", fn.Name)
			break
		}
	}
	if st, err := os.Stat(bin); err == nil {
		t.Logf("binary %.2f MB, %d functions", float64(st.Size())/1e6, len(table.Funcs))
	}
}
