package webui

import (
	"errors"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/webui/autoconfig"
)

func (s *Server) adminRoutes(g *gin.RouterGroup) {
	g.GET("", s.dashboard)
	g.GET("/", s.dashboard)
	g.GET("/domains", s.domainsPage)
	g.POST("/domains", s.domainAdd)
	g.GET("/domains/:domain", s.domainPage)
	g.POST("/domains/:domain/remove", s.domainRemove)
	g.POST("/domains/:domain/switch", s.domainSwitch)
	g.POST("/domains/:domain/password", s.domainPassword)
	g.GET("/domains/:domain/users", s.usersPage)
	g.POST("/domains/:domain/users", s.userAdd)
	g.POST("/domains/:domain/users/remove", s.userRemove)
	g.POST("/domains/:domain/users/password", s.userPassword)
	g.POST("/domains/:domain/users/quota", s.userQuota)
	g.POST("/domains/:domain/users/forward", s.userForward)
	g.POST("/domains/:domain/users/vacation", s.userVacation)
	g.POST("/domains/:domain/catchall", s.domainCatchAll)
	g.POST("/domains/:domain/postmaster", s.domainPostmaster)
	g.POST("/domains/:domain/aliases", s.aliasAdd)
	g.POST("/domains/:domain/aliases/remove", s.aliasRemove)
	g.GET("/domains/:domain/dns", s.dnsPage)
	g.POST("/domains/:domain/mta-sts", s.domainMTASTS)
	g.GET("/domains/:domain/spam", s.spamPage)
	g.GET("/domains/:domain/reports", s.reportsPage)
	g.GET("/domains/:domain/reports/:id/mail", s.reportMail)
	g.GET("/queue", s.queuePage)
	g.GET("/queue/:id", s.queueShow)
	g.POST("/queue/:id/retry", s.queueRetry)
	g.POST("/queue/:id/delete", s.queueDelete)
	g.GET("/security", s.securityPage)
	g.POST("/security/unblock", s.securityUnblock)
	g.GET("/password", s.adminPasswordPage)
	g.POST("/password", s.adminPasswordPost)
	g.GET("/backup", s.backupDownload)
}

type dashData struct {
	Domains, Users     int
	Queue, Captured    int
	DiskUse            int64
	Certs              []CertInfo
	Day, Week          chart
	SentDay, RecvDay   int
	SentWeek, RecvWeek int
	DomainList         []store.Domain
	Reports            []reportTile // domains with DMARC/TLS reports in the last 7 days
	Glance             []glanceRow  // DNS records found and correct per domain
	Own                *ownListed   // our outbound address on the blocklists (nil: no MX lists)
}

func (s *Server) dashboard(c *gin.Context) {
	var d dashData
	doms, _ := s.st.ListDomains()
	d.Domains, d.DomainList = len(doms), doms
	d.Reports = s.reportTiles(doms)
	d.Glance = s.glanceRows(doms)
	d.Own = s.ownListing()
	users, _ := s.st.ListUsers("")
	d.Users = len(users)
	q, _ := s.st.ListQueue()
	for _, e := range q {
		if e.Captured {
			d.Captured++
		} else {
			d.Queue++
		}
	}
	if fi, err := os.Stat(s.st.Path()); err == nil {
		d.DiskUse = fi.Size()
	}
	if s.cfg.Certs != nil {
		d.Certs = s.cfg.Certs()
	}
	week := s.st.Traffic(7 * 24)
	day := week[len(week)-24:]
	d.Day, d.Week = makeChart(day, 6), makeChart(week, 24)
	for _, h := range day {
		d.SentDay += h.Sent
		d.RecvDay += h.Received
	}
	for _, h := range week {
		d.SentWeek += h.Sent
		d.RecvWeek += h.Received
	}
	s.render(c, http.StatusOK, "admin_dashboard", page{Title: "Dashboard", Area: "admin", Nav: "dashboard", Data: d})
}

type domainRow struct {
	store.Domain
	Users   int
	HasPass bool
}

func (s *Server) domainsPage(c *gin.Context) {
	doms, err := s.st.ListDomains()
	if err != nil {
		s.errorPage(c, http.StatusInternalServerError, "Could not read the domains.")
		return
	}
	users, _ := s.st.ListUsers("")
	count := map[string]int{}
	for _, u := range users {
		count[store.DomainOf(u.Address)]++
	}
	rows := make([]domainRow, 0, len(doms))
	for _, d := range doms {
		rows = append(rows, domainRow{Domain: d, Users: count[d.Name], HasPass: d.PasswordHash != ""})
	}
	s.render(c, http.StatusOK, "admin_domains", page{Title: "Domains", Area: "admin", Nav: "domains", Data: rows})
}

func (s *Server) domainAdd(c *gin.Context) {
	name := c.PostForm("domain")
	if hasCRLF(name) || len(name) > 300 {
		s.flash(c, "That is not a domain name.", true)
		back(c, "/admin/domains")
		return
	}
	d, err := s.st.AddDomain(name) // store.CanonicalDomain drops www., refuses IP addresses
	if err != nil {
		s.flash(c, "Could not add the domain: "+err.Error(), true)
		back(c, "/admin/domains")
		return
	}
	s.log.Info("web: domain added", "domain", d.Name)
	s.flash(c, "Added "+d.Name+". Set its password and turn on Authenticated SMTP below.", false)
	back(c, "/admin/domains/"+d.Name)
}

// domainParam loads the :domain of the URL, answering 404 itself.
func (s *Server) domainParam(c *gin.Context) (store.Domain, bool) {
	d, err := s.st.GetDomain(c.Param("domain"))
	if err != nil {
		s.errorPage(c, http.StatusNotFound, "There is no such domain here.")
		return d, false
	}
	return d, true
}

type domainData struct {
	D          store.Domain
	Login      string
	HasPass    bool
	Users      []store.User
	MinScore   int
	Ports      *autoconfig.Ports // nil: not known
	Postmaster postmasterInfo
}

func (s *Server) domainPage(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	users, _ := s.st.ListUsers(d.Name)
	s.render(c, http.StatusOK, "admin_domain", page{Title: d.Name, Area: "admin", Nav: "domains",
		Data: domainData{D: d, Login: d.Name, HasPass: d.PasswordHash != "", Users: users, MinScore: minPasswordBits,
			Ports: s.mailPorts(), Postmaster: s.postmasterOf(d)}})
}

func (s *Server) domainRemove(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	if c.PostForm("confirm") != d.Name {
		s.flash(c, "Type the domain name to confirm removing it.", true)
		back(c, "/admin/domains/"+d.Name)
		return
	}
	if err := s.st.RemoveDomain(d.Name); err != nil {
		s.flash(c, "Could not remove "+d.Name+": "+err.Error(), true)
		back(c, "/admin/domains/"+d.Name)
		return
	}
	s.log.Info("web: domain removed", "domain", d.Name)
	s.flash(c, "Removed "+d.Name+".", false)
	back(c, "/admin/domains")
}

func (s *Server) domainSwitch(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	which, on := c.PostForm("switch"), c.PostForm("on") == "1"
	if which != "smtp" && which != "webmail" {
		s.errorPage(c, http.StatusBadRequest, "Unknown switch.")
		return
	}
	if which == "smtp" && on && d.PasswordHash == "" {
		s.flash(c, "Set the domain password first: Authenticated SMTP needs it.", true)
		back(c, "/admin/domains/"+d.Name)
		return
	}
	if err := s.st.SetDomainSwitch(d.Name, which, on); err != nil {
		s.flash(c, "Could not change the switch: "+err.Error(), true)
	} else {
		label := map[string]string{"smtp": "Authenticated SMTP", "webmail": "Webmail"}[which]
		s.log.Info("web: domain switch", "domain", d.Name, "switch", which, "on", on)
		s.flash(c, label+" is now "+map[bool]string{true: "on", false: "off"}[on]+" for "+d.Name+".", false)
	}
	back(c, "/admin/domains/"+d.Name)
}

func (s *Server) domainPassword(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	pw, confirm := c.PostForm("password"), c.PostForm("confirm")
	if err := checkNewPassword(pw, confirm, store.KindDomain, d.Name); err != nil {
		s.flash(c, err.Error(), true)
		back(c, "/admin/domains/"+d.Name)
		return
	}
	if err := s.st.SetDomainPassword(d.Name, pw); err != nil {
		s.flash(c, "Could not set the password: "+err.Error(), true)
	} else {
		s.log.Info("web: domain password set", "domain", d.Name)
		s.flash(c, "The password of the domain login "+d.Name+" is set. Existing logins with the old one stop working now.", false)
	}
	back(c, "/admin/domains/"+d.Name)
}

// errText is the message of err without internal wrapping noise.
func errText(err error) string {
	if errors.Is(err, store.ErrNotFound) {
		return "not found"
	}
	return err.Error()
}
