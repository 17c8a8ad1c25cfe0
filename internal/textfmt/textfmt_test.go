package textfmt

import "testing"

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"a\n  b\tc ": "a b c",
		"":           "",
		"x":          "x",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
