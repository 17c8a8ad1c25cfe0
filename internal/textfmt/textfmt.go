// Package textfmt formats text for one-line terminal output.
package textfmt

import "strings"

// OneLine folds every run of white space (newlines included) into one
// space, so a multi-line error or condition message fits one output line.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
