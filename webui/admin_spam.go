package webui

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/junk"
)

// spamData is a domain's Spam tab: inbound mail per day and each user's
// junk filter.
type spamData struct {
	D          store.Domain
	Days       []store.SpamDay
	Users      []userJunk
	Shared     userJunk // the domain's shared model
	MinTrained int
	Lists      DNSLists
}

type userJunk struct {
	Address string
	T       junk.Totals
	Active  bool
}

func (s *Server) spamPage(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	days, err := s.st.SpamStats(d.Name, 14)
	if err != nil {
		s.log.Error("web: spam stats", "domain", d.Name, "err", err)
	}
	// Newest first in the table.
	for i, j := 0, len(days)-1; i < j; i, j = i+1, j-1 {
		days[i], days[j] = days[j], days[i]
	}
	users, _ := s.st.ListUsers(d.Name)
	data := spamData{D: d, Days: days, MinTrained: s.cfg.Junk.Config().MinTrained}
	if t, err := s.cfg.Junk.DomainTotals(d.Name); err == nil {
		data.Shared = userJunk{Address: d.Name, T: t, Active: s.cfg.Junk.Trained(t)}
	}
	if s.cfg.DNSLists != nil {
		data.Lists = s.cfg.DNSLists()
	}
	for _, u := range users {
		t, err := s.cfg.Junk.Totals(u.Address)
		if err != nil {
			continue
		}
		data.Users = append(data.Users, userJunk{Address: u.Address, T: t, Active: s.cfg.Junk.Trained(t)})
	}
	s.render(c, http.StatusOK, "admin_spam", page{Title: "Spam · " + d.Name, Area: "admin", Nav: "domains", Data: data})
}
