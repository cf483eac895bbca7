package webui

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
)

// Email rules use the store's rule API (store/rules.go), the same one the
// CLI uses, so validation and routing agree everywhere.

func (s *Server) setForward(addr, target string, keep bool) error {
	return s.st.SetForward(addr, target, keep && target != "")
}

func (s *Server) setCatchAll(domain, target string) error { return s.st.SetCatchAll(domain, target) }

func (s *Server) aliasAdd(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	to := "/admin/domains/" + d.Name + "/users"
	local := strings.TrimSpace(c.PostForm("local"))
	rawTargets := c.PostForm("targets")
	sendAs := strings.TrimSpace(c.PostForm("send_as"))
	if local == "" || strings.Contains(local, "@") || hasCRLF(local) || hasCRLF(sendAs) {
		s.flash(c, "Enter the part before the @ of the alias.", true)
		back(c, to)
		return
	}
	targets := strings.FieldsFunc(rawTargets, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(targets) == 0 || len(targets) > 50 {
		s.flash(c, "An alias needs between 1 and 50 target addresses.", true)
		back(c, to)
		return
	}
	if sendAs != "" && store.DomainOf(sendAs) != d.Name {
		s.flash(c, "Only a user of "+d.Name+" may be allowed to send as the alias.", true)
		back(c, to)
		return
	}
	a, err := s.st.AddAlias(local+"@"+d.Name, targets, sendAs)
	if err != nil {
		s.flash(c, "Could not add the alias: "+err.Error(), true)
		back(c, to)
		return
	}
	s.log.Info("web: alias added", "alias", a.Address, "targets", len(a.Targets))
	s.flash(c, "Mail to "+a.Address+" now goes to "+strings.Join(a.Targets, ", ")+".", false)
	back(c, to)
}

func (s *Server) aliasRemove(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	to := "/admin/domains/" + d.Name + "/users"
	addr, err := store.NormalizeAddress(c.PostForm("address"))
	if err != nil || store.DomainOf(addr) != d.Name {
		s.flash(c, "That alias is not in "+d.Name+".", true)
		back(c, to)
		return
	}
	if err := s.st.RemoveAlias(addr); err != nil {
		s.flash(c, "Could not remove the alias: "+errText(err), true)
	} else {
		s.flash(c, "Removed the alias "+addr+".", false)
	}
	back(c, to)
}

// aliasesOf lists a domain's aliases for the users page.
func (s *Server) aliasesOf(domain string) []store.Alias {
	as, err := s.st.ListAliases(domain)
	if err != nil {
		s.log.Warn("web: listing aliases", "err", err)
	}
	return as
}

// userVacation sets or clears a user's auto-reply text.
func (s *Server) userVacation(c *gin.Context) {
	addr, to, ok := s.postedUser(c)
	if !ok {
		return
	}
	text := strings.TrimSpace(strings.ReplaceAll(c.PostForm("vacation"), "\r\n", "\n"))
	if len(text) > 4000 {
		s.flash(c, "The auto-reply is too long (4,000 characters at most).", true)
		back(c, to)
		return
	}
	if err := s.st.SetVacation(addr, text); err != nil {
		s.flash(c, "Could not set the auto-reply: "+errText(err), true)
	} else if text == "" {
		s.flash(c, "Auto-reply is off for "+addr+".", false)
	} else {
		s.flash(c, "Auto-reply is on for "+addr+".", false)
	}
	back(c, to)
}
