package standin

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// loadSource re-reads the load file: a missing file means no load; a file
// that cannot be read or parsed keeps the last good load, and each distinct
// problem is logged once.
type loadSource struct {
	path    string
	service string
	log     *slog.Logger

	current Load
	problem string // last logged state ("" when the file was good)
	errors  func() // counts a bad read (metric); may be nil
}

func newLoadSource(path, service string, log *slog.Logger, onError func()) *loadSource {
	return &loadSource{path: path, service: service, log: log, errors: onError}
}

// read returns the load to apply now.
func (s *loadSource) read() Load {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.note("no load file: no load", nil)
		s.current = Load{}
		return s.current
	}
	if err == nil {
		var loads map[string]Load
		if loads, err = ParseLoads(data); err == nil {
			if s.problem != "" {
				s.log.Info("load file read", "file", s.path)
			}
			s.problem = ""
			s.current = loads[s.service]
			return s.current
		}
	}
	if s.errors != nil {
		s.errors()
	}
	s.note("bad load file: keeping the last good load", fmt.Errorf("load file %s: %w", s.path, err))
	return s.current
}

// note logs msg (with err) unless it is the state already logged.
func (s *loadSource) note(msg string, err error) {
	key := msg
	if err != nil {
		key += ": " + err.Error()
	}
	if key == s.problem {
		return
	}
	s.problem = key
	if err == nil {
		s.log.Info(msg, "file", s.path)
		return
	}
	s.log.Error(msg, "err", err, "cpu_millicores", s.current.CPUMillicores, "memory_mib", s.current.MemoryMiB)
}
