package firewall

import (
	"fmt"
	"log/slog"
	"os"
)

// setsNS is what Sets and Ipsets share: a logger and the network namespace
// they talk to the kernel in (nsFd 0: the caller's).
type setsNS struct {
	logger *slog.Logger
	nsFd   int
	nsFile *os.File // opened by WithSetsNetNS; closed by Close
}

// openSetsNS applies opts: WithSetsNetNS opens the namespace file.
func openSetsNS(logger *slog.Logger, opts []SetsOption) (setsNS, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var c setsConfig
	for _, o := range opts {
		o(&c)
	}
	s := setsNS{logger: logger, nsFd: c.nsFd}
	if c.nsPath != "" {
		f, err := os.Open(c.nsPath)
		if err != nil {
			return setsNS{}, fmt.Errorf("open network namespace %s: %w", c.nsPath, err)
		}
		s.nsFile = f
		s.nsFd = int(f.Fd())
	}
	return s, nil
}

// Close releases the namespace file opened by WithSetsNetNS.
func (s *setsNS) Close() error {
	if s.nsFile == nil {
		return nil
	}
	err := s.nsFile.Close()
	s.nsFile = nil
	return err
}
