package webui

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
)

type userRow struct {
	store.User
	Local string
	Usage int64
}

type usersData struct {
	D          store.Domain
	Users      []userRow
	Aliases    []store.Alias
	Postmaster postmasterInfo
}

func (s *Server) usersPage(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	users, err := s.st.ListUsers(d.Name)
	if err != nil {
		s.errorPage(c, http.StatusInternalServerError, "Could not read the users.")
		return
	}
	data := usersData{D: d, Aliases: s.aliasesOf(d.Name), Postmaster: s.postmasterOf(d)}
	for _, u := range users {
		r := userRow{User: u, Local: strings.TrimSuffix(u.Address, "@"+d.Name)}
		r.Usage, _, _ = s.st.Usage(u.Address)
		data.Users = append(data.Users, r)
	}
	s.render(c, http.StatusOK, "admin_users", page{Title: "Users and Email Rules · " + d.Name, Area: "admin", Nav: "domains", Data: data})
}

// postedUser reads the domain in the path and the "address" form field,
// checks that the user belongs to that domain, and gives the users page
// to go back to.
func (s *Server) postedUser(c *gin.Context) (addr, to string, ok bool) {
	d, ok := s.domainParam(c)
	if !ok {
		return "", "", false
	}
	to = "/admin/domains/" + d.Name + "/users"
	addr, err := store.NormalizeAddress(c.PostForm("address"))
	if err != nil || store.DomainOf(addr) != d.Name {
		s.flash(c, "That user is not in "+d.Name+".", true)
		back(c, to)
		return "", "", false
	}
	return addr, to, true
}

func (s *Server) userAdd(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	to := "/admin/domains/" + d.Name + "/users"
	local := strings.TrimSpace(c.PostForm("local"))
	if hasCRLF(local) || local == "" || strings.Contains(local, "@") {
		s.flash(c, "Enter the part before the @ of the new address.", true)
		back(c, to)
		return
	}
	addr, err := store.NormalizeAddress(local + "@" + d.Name)
	if err != nil {
		s.flash(c, "That is not a valid address: "+err.Error(), true)
		back(c, to)
		return
	}
	pw := c.PostForm("password")
	if err := checkNewPassword(pw, c.PostForm("confirm"), store.KindUser, addr); err != nil {
		s.flash(c, err.Error(), true)
		back(c, to)
		return
	}
	if _, err := s.st.AddUser(addr, pw); err != nil {
		s.flash(c, "Could not add the user: "+err.Error(), true)
		back(c, to)
		return
	}
	s.log.Info("web: user added", "address", addr)
	s.flash(c, "Added "+addr+". It can log in to IMAP, SMTP and webmail with its password.", false)
	back(c, to)
}

func (s *Server) userRemove(c *gin.Context) {
	addr, to, ok := s.postedUser(c)
	if !ok {
		return
	}
	if c.PostForm("confirm") != "yes" {
		s.flash(c, "Tick the box to confirm removing "+addr+" and all of its mail.", true)
		back(c, to)
		return
	}
	if err := s.st.RemoveUser(addr); err != nil {
		s.flash(c, "Could not remove "+addr+": "+errText(err), true)
	} else {
		s.log.Info("web: user removed", "address", addr)
		s.flash(c, "Removed "+addr+" and its mail.", false)
	}
	back(c, to)
}

func (s *Server) userPassword(c *gin.Context) {
	addr, to, ok := s.postedUser(c)
	if !ok {
		return
	}
	pw := c.PostForm("password")
	if err := checkNewPassword(pw, c.PostForm("confirm"), store.KindUser, addr); err != nil {
		s.flash(c, err.Error(), true)
		back(c, to)
		return
	}
	if err := s.st.SetUserPassword(addr, pw); err != nil {
		s.flash(c, "Could not set the password: "+errText(err), true)
	} else {
		s.log.Info("web: user password set", "address", addr)
		s.flash(c, "New password set for "+addr+". Its open sessions have ended.", false)
	}
	back(c, to)
}

func (s *Server) userQuota(c *gin.Context) {
	addr, to, ok := s.postedUser(c)
	if !ok {
		return
	}
	n, err := store.ParseSize(c.PostForm("quota"))
	if err != nil {
		s.flash(c, err.Error(), true)
		back(c, to)
		return
	}
	if err := s.st.UpdateUser(addr, func(u *store.User) error { u.Quota = n; return nil }); err != nil {
		s.flash(c, "Could not set the quota: "+errText(err), true)
	} else {
		msg := "Quota of " + addr + " is now " + humanSize(n) + "."
		if n == 0 {
			msg = addr + " now uses the server's default quota."
		}
		s.flash(c, msg, false)
	}
	back(c, to)
}

func (s *Server) userForward(c *gin.Context) {
	addr, to, ok := s.postedUser(c)
	if !ok {
		return
	}
	target := strings.TrimSpace(c.PostForm("forward"))
	keep := c.PostForm("keep") == "1"
	if target != "" {
		t, err := store.NormalizeAddress(target)
		if err != nil || hasCRLF(target) {
			s.flash(c, "The forwarding target is not a valid address.", true)
			back(c, to)
			return
		}
		if t == addr {
			s.flash(c, "A user cannot forward to itself.", true)
			back(c, to)
			return
		}
		target = t
	}
	if err := s.setForward(addr, target, keep); err != nil {
		s.flash(c, "Could not set forwarding: "+errText(err), true)
	} else if target == "" {
		s.flash(c, "Forwarding is off for "+addr+".", false)
	} else {
		s.flash(c, "Mail to "+addr+" is now forwarded to "+target+".", false)
	}
	back(c, to)
}

func (s *Server) domainCatchAll(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	to := "/admin/domains/" + d.Name + "/users"
	target := strings.TrimSpace(c.PostForm("catchall"))
	if target != "" && target != "off" {
		t, err := store.NormalizeAddress(target)
		if err != nil || store.DomainOf(t) != d.Name {
			s.flash(c, "The catch-all must be a user of "+d.Name+".", true)
			back(c, to)
			return
		}
		if _, err := s.st.GetUser(t); err != nil {
			s.flash(c, "The catch-all must be an existing user of "+d.Name+".", true)
			back(c, to)
			return
		}
		target = t
	} else {
		target = ""
	}
	if err := s.setCatchAll(d.Name, target); err != nil {
		s.flash(c, "Could not set the catch-all: "+errText(err), true)
	} else if target == "" {
		s.flash(c, "Catch-all is off: mail to unknown addresses at "+d.Name+" is refused.", false)
	} else {
		s.flash(c, "Mail to unknown addresses at "+d.Name+" now goes to "+target+".", false)
	}
	back(c, to)
}
