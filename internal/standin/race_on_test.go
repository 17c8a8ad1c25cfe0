//go:build race

package standin

const raceEnabled = true
