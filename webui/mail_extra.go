package webui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/store"
)

// prefillReply fills the compose form for ?mode=reply|all|forward of
// ?folder=&uid=.
func (s *Server) prefillReply(c *gin.Context, sess *store.Session, d *composeData) {
	mode := c.Query("mode")
	if mode != "reply" && mode != "all" && mode != "forward" {
		return
	}
	uid, err := strconv.ParseUint(c.Query("uid"), 10, 32)
	if err != nil {
		return
	}
	_, raw, err := s.st.GetMessage(sess.Address, c.Query("folder"), uint32(uid))
	if err != nil {
		return
	}
	p := parseMessage(raw)
	subj := p.Subject
	lower := strings.ToLower(subj)
	quoteHead := fmt.Sprintf("On %s, %s wrote:", p.Date.Local().Format("Mon, 2 Jan 2006 15:04"), p.From)
	switch mode {
	case "forward":
		if !strings.HasPrefix(lower, "fwd:") {
			subj = "Fwd: " + subj
		}
		quoteHead = fmt.Sprintf("---------- Forwarded message ----------\nFrom: %s\nDate: %s\nSubject: %s\nTo: %s\n",
			p.FromAddr, p.Date.Local().Format("Mon, 2 Jan 2006 15:04"), p.Subject, p.To)
	default:
		if !strings.HasPrefix(lower, "re:") {
			subj = "Re: " + subj
		}
		to := p.FromAddr
		if p.ReplyTo != "" {
			to = p.ReplyTo
		}
		d.To = to
		if mode == "all" {
			var cc []string
			for _, a := range strings.Split(p.To+", "+p.Cc, ",") {
				a = strings.TrimSpace(a)
				if a != "" && !strings.EqualFold(a, sess.Address) && !strings.EqualFold(a, to) {
					cc = append(cc, a)
				}
			}
			d.Cc = strings.Join(cc, ", ")
		}
		d.ReplyFolder, d.ReplyUID = c.Query("folder"), c.Query("uid")
		d.InReplyTo = p.MessageID
		d.References = strings.TrimSpace(p.References + " <" + p.MessageID + ">")
		if p.MessageID == "" {
			d.References = ""
		}
	}
	d.Subject = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, subj)
	text := p.Text
	if text == "" && p.HTML != "" {
		text = "(HTML message)"
	}
	if mode == "forward" {
		d.Body = "\n\n" + quoteHead + "\n" + text
	} else {
		var b strings.Builder
		for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
			b.WriteString("> " + l + "\n")
		}
		d.Body = "\n\n" + quoteHead + "\n" + b.String()
	}
}

// mailEvents streams mailbox changes as server-sent events so the list
// and unread counts update without a reload. It holds no transaction and
// ends when the client goes or the server stops.
func (s *Server) mailEvents(c *gin.Context) {
	sess := sessionOf(c)
	ch, cancel := s.cfg.Events.Subscribe(sess.Address)
	defer cancel()
	defer s.cfg.Metrics.Session(metrics.ProtoWeb)()
	// The stream outlives the server's ReadTimeout (meant for uploads):
	// clear the deadline so it does not cut the stream.
	http.NewResponseController(c.Writer).SetReadDeadline(time.Time{})
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	fmt.Fprint(c.Writer, "retry: 5000\n\n")
	c.Writer.Flush()
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	// A session ended elsewhere (sign-out, password change) ends the stream.
	check := time.NewTicker(time.Minute)
	defer check.Stop()
	kinds := map[store.EventKind]string{store.EventNew: "new", store.EventFlags: "flags", store.EventExpunge: "expunge", store.EventMailbox: "mailbox"}
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(map[string]any{"kind": kinds[e.Kind], "mailbox": e.Mailbox, "uid": e.UID})
			fmt.Fprintf(c.Writer, "event: mail\ndata: %s\n\n", b)
			c.Writer.Flush()
		case <-ping.C:
			fmt.Fprint(c.Writer, ": ping\n\n")
			c.Writer.Flush()
		case <-check.C:
			if _, ok := s.st.GetSession(sess.ID); !ok {
				return
			}
		}
	}
}

func (s *Server) mailPasswordPage(c *gin.Context) {
	s.render(c, http.StatusOK, "mail_password", page{Title: "Password", Area: "mail", Nav: "password", Data: minPasswordBits})
}

func (s *Server) mailPasswordPost(c *gin.Context) {
	sess := sessionOf(c)
	cur, pw := c.PostForm("current"), c.PostForm("password")
	if _, err := s.st.Login(c.Request.Context(), "web", clientIP(c.Request), sess.Address, cur); err != nil {
		status := http.StatusForbidden
		if errors.Is(err, store.ErrThrottled) {
			status = http.StatusTooManyRequests
		}
		s.render(c, status, "mail_password", page{Title: "Password", Area: "mail", Nav: "password",
			Flash: "The current password is not right.", FlashErr: true, Data: minPasswordBits})
		return
	}
	if err := checkNewPassword(pw, c.PostForm("confirm"), store.KindUser, sess.Address); err != nil {
		s.flash(c, err.Error(), true)
		back(c, "/mail/password")
		return
	}
	if err := s.st.SetUserPassword(sess.Address, pw); err != nil {
		s.flash(c, "Could not change the password: "+errText(err), true)
		back(c, "/mail/password")
		return
	}
	s.log.Info("web: user changed password", "login", sess.Address)
	s.setCookie(c, cookieSession, "", -1)
	s.flash(c, "Your password is changed. Sign in with the new one; other sessions and mail apps need it too.", false)
	back(c, "/mail/login")
}
