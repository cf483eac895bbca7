package webui

import (
	"fmt"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/webui/autoconfig"
)

// postmasterInfo is what the domain pages show about postmaster@ and
// abuse@ (store/postmaster.go).
type postmasterInfo struct {
	User    string // chosen and existing; "" while unset
	Missing string // chosen but since removed
	Held    int    // messages waiting while unset
	Choices []string
}

func (s *Server) postmasterOf(d store.Domain) postmasterInfo {
	p := postmasterInfo{Held: s.st.HeldPostmasterMail(d.Name)}
	if d.Postmaster != "" {
		if _, err := s.st.GetUser(d.Postmaster); err == nil {
			p.User = d.Postmaster
		} else {
			p.Missing = d.Postmaster
		}
	}
	users, _ := s.st.ListUsers("")
	// The domain's own users first, then the others (one person often is
	// the postmaster of several domains).
	for _, own := range []bool{true, false} {
		for _, u := range users {
			if (store.DomainOf(u.Address) == d.Name) == own {
				p.Choices = append(p.Choices, u.Address)
			}
		}
	}
	return p
}

func (s *Server) domainPostmaster(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	to := "/admin/domains/" + d.Name + "/users"
	target := strings.TrimSpace(c.PostForm("postmaster"))
	if target == "off" {
		target = ""
	}
	if target != "" {
		t, err := store.NormalizeAddress(target)
		if err != nil {
			s.flash(c, "The postmaster must be an existing user.", true)
			back(c, to)
			return
		}
		target = t
	}
	held := s.st.HeldPostmasterMail(d.Name)
	if err := s.st.SetPostmaster(d.Name, target); err != nil {
		s.flash(c, "Could not set the postmaster: "+errText(err), true)
		back(c, to)
		return
	}
	s.log.Info("web: postmaster set", "domain", d.Name, "user", target)
	switch {
	case target == "":
		s.flash(c, "No postmaster for "+d.Name+": mail to postmaster@ and abuse@ is held until you choose one.", false)
	case held > 0:
		s.flash(c, fmt.Sprintf("postmaster@ and abuse@%s now go to %s; the %d held message(s) are in that INBOX.", d.Name, target, held), false)
	default:
		s.flash(c, "postmaster@ and abuse@"+d.Name+" now go to "+target+".", false)
	}
	back(c, to)
}

// mailPorts are the submission and IMAP ports really listened on (0: off);
// nil when the server did not say.
func (s *Server) mailPorts() *autoconfig.Ports {
	if s.cfg.MailPorts == nil {
		return nil
	}
	p := s.cfg.MailPorts()
	return &p
}
