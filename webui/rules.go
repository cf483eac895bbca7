package webui

import "github.com/authsmtp/authsmtp/store"

// setForward and setCatchAll write the email rules the store keeps on the
// user and domain records; routing reads them from there.

func (s *Server) setForward(addr, target string, keep bool) error {
	return s.st.UpdateUser(addr, func(u *store.User) error {
		u.Forward, u.ForwardKeep = target, keep && target != ""
		return nil
	})
}

func (s *Server) setCatchAll(domain, target string) error {
	return s.st.UpdateDomain(domain, func(d *store.Domain) error {
		d.CatchAll = target
		return nil
	})
}
