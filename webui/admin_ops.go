package webui

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailparse"
)

type securityData struct {
	Recent  []store.Failure
	ByIP    []countRow
	ByLogin []countRow
	Blocked []store.Blocked
	Total   int
}

type countRow struct {
	Key   string
	Count int
	Last  time.Time
	Proto string
}

func countBy(fs []store.Failure, key func(store.Failure) string) []countRow {
	m := map[string]*countRow{}
	for _, f := range fs {
		k := key(f)
		r := m[k]
		if r == nil {
			r = &countRow{Key: k, Last: f.Time}
			m[k] = r
		}
		r.Count++
		if !strings.Contains(r.Proto, f.Protocol) {
			r.Proto = strings.TrimPrefix(r.Proto+", "+f.Protocol, ", ")
		}
	}
	out := make([]countRow, 0, len(m))
	for _, r := range m {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

func (s *Server) securityPage(c *gin.Context) {
	rec := s.cfg.Throttle.Recent()
	d := securityData{Total: len(rec), Blocked: s.cfg.Throttle.BlockedNow()}
	d.ByIP = countBy(rec, func(f store.Failure) string { return f.IP })
	d.ByLogin = countBy(rec, func(f store.Failure) string { return store.SanitizeLog(f.Login) })
	if len(rec) > 100 {
		rec = rec[:100]
	}
	d.Recent = rec
	s.render(c, http.StatusOK, "admin_security", page{Title: "Security", Area: "admin", Nav: "security", Data: d})
}

func (s *Server) securityUnblock(c *gin.Context) {
	key := c.PostForm("key")
	if !strings.HasPrefix(key, "ip:") && !strings.HasPrefix(key, "login:") {
		s.flash(c, "Unknown throttle key.", true)
	} else if s.cfg.Throttle.Unblock(key) {
		s.log.Info("web: unblocked", "key", store.SanitizeLog(key))
		s.flash(c, "Unblocked "+key+".", false)
	} else {
		s.flash(c, key+" was not blocked any more.", false)
	}
	back(c, "/admin/security")
}

func (s *Server) adminPasswordPage(c *gin.Context) {
	s.render(c, http.StatusOK, "admin_password", page{Title: "Admin password", Area: "admin", Nav: "password", Data: minPasswordBits})
}

func (s *Server) adminPasswordPost(c *gin.Context) {
	cur, pw := c.PostForm("current"), c.PostForm("password")
	if _, err := s.st.Login(c.Request.Context(), "web", clientIP(c.Request), store.AdminLogin, cur); err != nil {
		status := http.StatusForbidden
		if errors.Is(err, store.ErrThrottled) {
			status = http.StatusTooManyRequests
		}
		s.render(c, status, "admin_password", page{Title: "Admin password", Area: "admin", Nav: "password",
			Flash: "The current password is not right.", FlashErr: true, Data: minPasswordBits})
		return
	}
	if err := checkNewPassword(pw, c.PostForm("confirm"), store.KindAdmin, store.AdminLogin); err != nil {
		s.flash(c, err.Error(), true)
		back(c, "/admin/password")
		return
	}
	if err := s.st.SetAdminPassword(pw); err != nil {
		s.flash(c, "Could not change the password: "+err.Error(), true)
		back(c, "/admin/password")
		return
	}
	// SetAdminPassword ended every admin session, this one included.
	s.log.Info("web: admin password changed")
	s.setCookie(c, cookieSession, "", -1)
	s.flash(c, "The admin password is changed. Sign in with the new one.", false)
	back(c, "/admin/login")
}

type queueData struct {
	Entries  []store.QueueEntry
	Filter   string
	Status   string
	Capture  bool
	Captured map[string]int
	Total    int
}

func (s *Server) queuePage(c *gin.Context) {
	all, err := s.st.ListQueue()
	if err != nil {
		s.errorPage(c, http.StatusInternalServerError, "Could not read the queue.")
		return
	}
	d := queueData{Filter: strings.TrimSpace(c.Query("q")), Status: c.Query("status"), Capture: s.cfg.Capture, Captured: map[string]int{}, Total: len(all)}
	f := strings.ToLower(d.Filter)
	for i := len(all) - 1; i >= 0; i-- { // newest first
		e := all[i]
		if e.Captured {
			d.Captured[e.Login]++
		}
		switch d.Status {
		case "captured":
			if !e.Captured {
				continue
			}
		case "pending":
			if e.Captured || len(e.Pending()) == 0 {
				continue
			}
		case "failing":
			if len(e.Attempts) == 0 || e.Attempts[len(e.Attempts)-1].OK {
				continue
			}
		}
		if f != "" && !queueMatches(e, f) {
			continue
		}
		if len(d.Entries) < 500 {
			d.Entries = append(d.Entries, e)
		}
	}
	s.render(c, http.StatusOK, "admin_queue", page{Title: "Queue", Area: "admin", Nav: "queue", Data: d})
}

func queueMatches(e store.QueueEntry, f string) bool {
	if strings.Contains(strings.ToLower(e.From+" "+e.Login+" "+e.Subject+" "+e.ID), f) {
		return true
	}
	for _, r := range e.Rcpts {
		if strings.Contains(strings.ToLower(r.Address), f) {
			return true
		}
	}
	return false
}

type queueShowData struct {
	E       store.QueueEntry
	Headers []headerLine
	Text    string // the plain-text part, shown escaped (captured mail is read here)
	Atts    []attachment
}

type headerLine struct{ Name, Value string }

func (s *Server) queueEntry(c *gin.Context) (store.QueueEntry, bool) {
	id, err := store.ParseQueueID(c.Param("id"))
	if err == nil {
		var e store.QueueEntry
		if e, err = s.st.GetQueue(id); err == nil {
			return e, true
		}
	}
	s.errorPage(c, http.StatusNotFound, "There is no such message in the queue (it may have been delivered).")
	return store.QueueEntry{}, false
}

func (s *Server) queueShow(c *gin.Context) {
	e, ok := s.queueEntry(c)
	if !ok {
		return
	}
	d := queueShowData{E: e}
	if body, err := s.st.Body(e.BodyID); err == nil {
		d.Headers = rawHeaders(body, 200)
		m := parseMessage(body)
		d.Text, d.Atts = m.Text, m.Atts
		if d.Text == "" && m.HTML != "" {
			d.Text = "(an HTML message; its source is not shown here)"
		}
		if len(d.Text) > 20000 {
			d.Text = d.Text[:20000] + "\n…"
		}
	}
	s.render(c, http.StatusOK, "admin_queue_show", page{Title: "Queued message", Area: "admin", Nav: "queue", Data: d})
}

// rawHeaders lists a message's header fields in their order, unfolded.
func rawHeaders(body []byte, maxLines int) []headerLine {
	h := mailparse.ReadHeader(body, mailparse.Limits{MaxHeaderFields: maxLines})
	var out []headerLine
	for _, f := range h.Fields {
		out = append(out, headerLine{f.Name, f.Value()})
	}
	return out
}

func (s *Server) queueRetry(c *gin.Context) {
	e, ok := s.queueEntry(c)
	if !ok {
		return
	}
	if e.Captured {
		s.flash(c, "Captured mail is never delivered (demo mode).", true)
		back(c, "/admin/queue/"+e.ID)
		return
	}
	if n, err := s.st.RetryQueue(e.ID); err != nil || n == 0 {
		if err == nil {
			err = errors.New("nothing is waiting for delivery")
		}
		s.flash(c, "Could not retry: "+errText(err), true)
	} else {
		s.flash(c, "Message "+e.ID+" will be retried now.", false)
	}
	back(c, "/admin/queue/"+e.ID)
}

func (s *Server) queueDelete(c *gin.Context) {
	e, ok := s.queueEntry(c)
	if !ok {
		return
	}
	if err := s.st.DeleteQueue(e.ID); err != nil {
		s.flash(c, "Could not delete: "+errText(err), true)
		back(c, "/admin/queue/"+e.ID)
		return
	}
	s.log.Info("web: queue entry deleted", "id", e.ID)
	s.flash(c, "Deleted message "+e.ID+" from the queue.", false)
	back(c, "/admin/queue")
}

type dnsData struct {
	D       store.Domain
	Mode    string   // the MTA-STS mode served (testing when none was chosen)
	Modes   []string // the modes to choose from
	Records []DNSRecord
	Checked bool
	Err     string
	NoDNS   bool
}

func (s *Server) dnsPage(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	data := dnsData{D: d, Checked: c.Query("check") == "1", Mode: d.MTASTSMode,
		Modes: []string{"none", "testing", "enforce"}}
	if data.Mode == "" {
		data.Mode = "testing" // what mtasts.DefaultMode serves
	}
	if s.cfg.DNS == nil {
		data.NoDNS = true
	} else {
		recs, err := s.cfg.DNS(c.Request.Context(), d.Name, data.Checked)
		if err != nil {
			data.Err = err.Error()
		}
		data.Records = recs
	}
	s.render(c, http.StatusOK, "admin_dns", page{Title: "DNS · " + d.Name, Area: "admin", Nav: "domains", Data: data})
}

// domainMTASTS sets the MTA-STS mode the domain's policy publishes (as
// `authsmtp domain mta-sts` does); the _mta-sts id changes with it, so
// the DNS page the admin returns to shows the record to republish.
func (s *Server) domainMTASTS(c *gin.Context) {
	d, ok := s.domainParam(c)
	if !ok {
		return
	}
	to := "/admin/domains/" + d.Name + "/dns"
	mode := c.PostForm("mode")
	if err := s.st.SetMTASTSMode(d.Name, mode); err != nil {
		s.flash(c, "Could not set the MTA-STS mode: "+errText(err), true)
		back(c, to)
		return
	}
	s.log.Info("web: MTA-STS mode set", "domain", d.Name, "mode", mode)
	s.flash(c, "MTA-STS mode for "+d.Name+" is now "+mode+". Publish the new _mta-sts record below: its id changed with the policy.", false)
	back(c, to)
}
