package store

import "fmt"

// SetMTASTSMode chooses the MTA-STS mode (none, testing or enforce) the
// server publishes for a domain (internal/serve serves the policy).
func (s *Store) SetMTASTSMode(domain, mode string) error {
	switch mode {
	case "none", "testing", "enforce":
	default:
		return fmt.Errorf("MTA-STS mode %q: want none, testing or enforce", mode)
	}
	return s.UpdateDomain(domain, func(d *Domain) error {
		d.MTASTSMode = mode
		return nil
	})
}
