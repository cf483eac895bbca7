package mx

import (
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// vacation sends each local recipient's auto-reply, if set, to the
// envelope sender (RFC 3834): never to <>, to list/owner/daemon
// addresses, or to the user itself, and once per sender per
// VacationWindow, and only when the user (or the alias that reached the
// user) is in To: or Cc: (RFC 3834 §3.1.1: not for lists or Bcc spam).
// The reply goes from <> so it cannot bounce back.
func (s *session) vacation(local []store.LocalRcpt, addressed map[string]bool, subject, msgID string) {
	if s.from == "" {
		return
	}
	lp := strings.ToLower(s.from[:strings.LastIndexByte(s.from, '@')])
	for _, bad := range []string{"mailer-daemon", "postmaster", "noreply", "no-reply", "listserv", "majordomo"} {
		if lp == bad {
			return
		}
	}
	if strings.HasPrefix(lp, "owner-") || strings.HasSuffix(lp, "-request") || strings.HasSuffix(lp, "-bounces") {
		return
	}
	sender, err := store.NormalizeAddress(s.from)
	if err != nil {
		return
	}
	for _, l := range local {
		if l.Address == sender || !s.addressedTo(l.Address, addressed) {
			continue
		}
		u, err := s.s.st.GetUser(l.Address)
		if err != nil || u.Vacation == "" {
			continue
		}
		if !s.s.st.VacationDue(u.Address, sender, s.s.cfg.VacationWindow) {
			continue
		}
		s.sendVacation(u, sender, subject, msgID)
	}
}

func (s *session) sendVacation(u store.User, to, subject, msgID string) {
	if subject == "" {
		subject = "your message"
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	w("From: <%s>", u.Address)
	w("To: <%s>", to)
	w("Subject: %s", mime.QEncoding.Encode("utf-8", "Auto: "+subject))
	w("Date: %s", time.Now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	w("Message-ID: <%s@%s>", store.RandomToken(18), s.s.cfg.Hostname)
	if msgID != "" && !strings.ContainsAny(msgID, "\r\n") {
		w("In-Reply-To: %s", msgID)
		w("References: %s", msgID)
	}
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	for _, line := range strings.Split(strings.ReplaceAll(u.Vacation, "\r\n", "\n"), "\n") {
		w("%s", strings.TrimRight(line, "\r"))
	}
	body := []byte(b.String())
	if s.s.cfg.Signer != nil {
		if sig, err := s.s.cfg.Signer.SignatureFields(body); err == nil {
			body = append(sig, body...)
		}
	}
	route, err := s.s.st.Route(to)
	if err != nil {
		s.log.Info("no route for a vacation reply", "to", to, "err", err)
		return
	}
	in := &store.Incoming{From: "", Login: u.Address, Body: body, Subject: "Auto: " + subject, Captured: s.s.cfg.Capture,
		Service: "mx", CID: s.cid}
	if len(route.Local) > 0 {
		in.Local = route.Local
	} else {
		in.Remote = route.Remote
	}
	if _, err := s.s.st.Accept(in); err != nil {
		s.log.Error("storing vacation reply", "user", u.Address, "err", err)
		return
	}
	s.log.Info("vacation reply sent", "user", u.Address, "to", to)
}

// addressedTo reports whether user, or a recipient address that routed to
// user (an alias, a catch-all), appears in To: or Cc:.
func (s *session) addressedTo(user string, addressed map[string]bool) bool {
	if addressed[user] {
		return true
	}
	for _, rc := range s.d.Recipients() {
		if !addressed[rc.Address] {
			continue
		}
		for _, l := range rc.Route.Local {
			if l.Address == user {
				return true
			}
		}
	}
	return false
}
