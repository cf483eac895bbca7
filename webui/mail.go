package webui

import (
	"bytes"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
)

func (s *Server) mailRoutes(g *gin.RouterGroup) {
	g.GET("", s.mailHome)
	g.GET("/", s.mailHome)
	g.GET("/compose", s.composePage)
	g.POST("/compose", s.composePost)
	u := g.Group("", s.requireUser)
	u.GET("/folder", s.folderPage)
	u.GET("/msg", s.messagePage)
	u.GET("/msg/body", s.messageBody)
	u.GET("/msg/part", s.messagePart)
	u.GET("/events", s.mailEvents)
	u.GET("/password", s.mailPasswordPage)
	u.POST("/password", s.mailPasswordPost)
	s.mailboxOpRoutes(u)
}

// requireUser keeps domain logins (no mailbox) to compose.
func (s *Server) requireUser(c *gin.Context) {
	if sessionOf(c).Kind != store.KindUser {
		s.errorPage(c, http.StatusForbidden, "A domain login can send mail but has no mailbox. Sign in with an email address to read mail.")
		c.Abort()
		return
	}
	c.Next()
}

func (s *Server) mailHome(c *gin.Context) {
	if sessionOf(c).Kind == store.KindUser {
		c.Redirect(http.StatusFound, "/mail/folder?name=INBOX")
		return
	}
	c.Redirect(http.StatusFound, "/mail/compose")
}

const pageSize = 50

type folderData struct {
	Folders  []store.Mailbox
	Current  store.Mailbox
	Messages []envelope
	Page     int
	Pages    int
	Total    int
	Query    string
}

// mailboxes returns the user's folders, special ones first in a fixed order.
func (s *Server) mailboxes(addr string) []store.Mailbox {
	mbs, _ := s.st.ListMailboxes(addr)
	rank := func(m store.Mailbox) int {
		for i, d := range store.DefaultMailboxes {
			if d.Name == m.Name {
				return i
			}
		}
		return len(store.DefaultMailboxes)
	}
	sort.SliceStable(mbs, func(i, j int) bool {
		ri, rj := rank(mbs[i]), rank(mbs[j])
		if ri != rj {
			return ri < rj
		}
		return mbs[i].Name < mbs[j].Name
	})
	return mbs
}

func findMailbox(mbs []store.Mailbox, name string) (store.Mailbox, bool) {
	for _, m := range mbs {
		if m.Name == name {
			return m, true
		}
	}
	return store.Mailbox{}, false
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// folderPage lists one page of a folder, newest first. It reads only the
// message states of the folder (small records) and the header blocks of
// the 50 messages shown, so a 10,000-message INBOX costs about as much
// as a 50-message one.
func (s *Server) folderPage(c *gin.Context) {
	sess := sessionOf(c)
	mbs := s.mailboxes(sess.Address)
	name := c.DefaultQuery("name", "INBOX")
	cur, ok := findMailbox(mbs, name)
	if !ok {
		s.errorPage(c, http.StatusNotFound, "There is no such folder.")
		return
	}
	d := folderData{Folders: mbs, Current: cur, Query: strings.TrimSpace(c.Query("q"))}
	if len(d.Query) > 200 {
		d.Query = d.Query[:200]
	}
	d.Page, _ = strconv.Atoi(c.DefaultQuery("page", "1"))
	d.Page = max(d.Page, 1)
	var uids []uint32
	if d.Query == "" {
		_, states, err := s.st.MailboxState(sess.Address, cur.Name)
		if err != nil {
			s.errorPage(c, http.StatusInternalServerError, "Could not read the folder.")
			return
		}
		uids = make([]uint32, len(states))
		for i, st := range states {
			uids[i] = st.UID
		}
	} else {
		var err error
		uids, err = s.searchHeaders(sess.Address, cur.Name, d.Query)
		if err != nil {
			s.errorPage(c, http.StatusInternalServerError, "Could not search the folder.")
			return
		}
	}
	d.Total = len(uids)
	d.Pages = max(1, (len(uids)+pageSize-1)/pageSize)
	d.Page = min(d.Page, d.Pages)
	hi := len(uids) - (d.Page-1)*pageSize
	lo := max(0, hi-pageSize)
	pageUIDs := uids[lo:hi]
	envs := make([]envelope, 0, len(pageUIDs))
	err := s.st.FetchMessages(sess.Address, cur.Name, pageUIDs, true, func(it *store.FetchItem) error {
		envs = append(envs, envelopeOf(it.Message, it.Body))
		return nil
	})
	if err != nil {
		s.errorPage(c, http.StatusInternalServerError, "Could not read the folder.")
		return
	}
	for i, j := 0, len(envs)-1; i < j; i, j = i+1, j-1 {
		envs[i], envs[j] = envs[j], envs[i]
	}
	d.Messages = envs
	s.render(c, http.StatusOK, "mail_list", page{Title: cur.Name, Area: "mail", Nav: "folder", Data: d})
}

// searchHeaders finds messages whose From, To or Subject contain q
// (case-insensitive), reading only header blocks.
func (s *Server) searchHeaders(addr, mailbox, q string) ([]uint32, error) {
	q = strings.ToLower(q)
	ascii := isASCII(q)
	qb := []byte(q)
	return s.st.SearchMessages(addr, mailbox, nil, true, func(it *store.SearchItem) bool {
		// Fast path: a plain-ASCII query that is nowhere in a header block
		// without encoded words cannot match after decoding either.
		if ascii {
			hdr := it.Body
			if i := bytes.Index(hdr, []byte("\r\n\r\n")); i >= 0 {
				hdr = hdr[:i]
			}
			if !bytes.Contains(hdr, []byte("=?")) && !containsFold(hdr, qb) {
				return false
			}
		}
		var e envelope
		if h, err := readEnvelope(it.Body); err == nil {
			fillEnvelope(&e, h)
		}
		return strings.Contains(strings.ToLower(e.Subject), q) || strings.Contains(strings.ToLower(e.From), q) ||
			strings.Contains(strings.ToLower(e.FromAddr), q) || strings.Contains(strings.ToLower(e.To), q)
	})
}

// sameSite reports whether the browser says the request came from our own
// pages or from the user (Sec-Fetch-Site); clients that send no such
// header (not a browser) count as the user.
func sameSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsFold reports whether lower-case ASCII needle is in hay, ignoring
// ASCII case, without allocating.
func containsFold(hay, needle []byte) bool {
	if len(needle) == 0 {
		return true
	}
	for i := 0; i+len(needle) <= len(hay); i++ {
		j := 0
		for ; j < len(needle); j++ {
			c := hay[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}

func envelopeOf(m *store.Message, raw []byte) envelope {
	e := envelope{UID: m.UID, Size: m.Size, Date: m.Date, Seen: m.HasFlag(`\Seen`), Flagged: m.HasFlag(`\Flagged`), Answered: m.HasFlag(`\Answered`)}
	if h, err := readEnvelope(raw); err == nil {
		fillEnvelope(&e, h)
	}
	if e.Date.IsZero() {
		e.Date = m.Date
	}
	return e
}

// msgParam finds the message named by folder and uid for the session user.
func (s *Server) msgParam(c *gin.Context, folder, uidStr string) (store.Mailbox, *store.Message, []byte, bool) {
	sess := sessionOf(c)
	if uid, err := strconv.ParseUint(uidStr, 10, 32); err == nil && uid > 0 {
		if mb, err := s.st.GetMailbox(sess.Address, folder); err == nil {
			if m, body, err := s.st.GetMessage(sess.Address, folder, uint32(uid)); err == nil {
				return *mb, m, body, true
			}
		}
	}
	s.errorPage(c, http.StatusNotFound, "That message is not there any more.")
	return store.Mailbox{}, nil, nil, false
}

type messageData struct {
	Folders  []store.Mailbox
	Current  store.Mailbox
	M        parsed
	UID      uint32
	HasHTML  bool
	Remote   bool // the HTML has remote content that is blocked
	ShowImgs bool
	Seen     bool
	Flagged  bool
}

func (s *Server) messagePage(c *gin.Context) {
	sess := sessionOf(c)
	mb, m, raw, ok := s.msgParam(c, c.Query("folder"), c.Query("uid"))
	if !ok {
		return
	}
	p := parseMessage(raw)
	p.UID, p.Size = m.UID, m.Size
	if p.Date.IsZero() {
		p.Date = m.Date
	}
	// Opening a message marks it read, as every mail client does. GET must
	// not change state for another site, so only a same-site navigation
	// (or one the user typed) does it; the cookie is SameSite=Strict too.
	if !m.HasFlag(`\Seen`) && sameSite(c.Request) {
		s.markSeen(sess.Address, mb.Name, m.UID)
	}
	d := messageData{Current: mb, UID: m.UID, HasHTML: p.HTML != "", Remote: hasRemoteImages(p.HTML),
		ShowImgs: c.Query("images") == "1", Seen: true, Flagged: m.HasFlag(`\Flagged`)}
	d.Folders = s.mailboxes(sess.Address) // after markSeen: counts are current
	p.HTML = ""                           // never handed to the template
	d.M = p
	s.render(c, http.StatusOK, "mail_read", page{Title: p.Subject, Area: "mail", Nav: "folder", Data: d})
}

// bodyCSP is the policy of the iframe document holding an HTML mail: no
// script, no plugin, no form, no request to anywhere; inline styles only.
const bodyCSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
const bodyCSPImages = "default-src 'none'; img-src data: https: http:; style-src 'unsafe-inline'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'"

// messageBody serves the sanitized HTML part for the sandboxed iframe.
func (s *Server) messageBody(c *gin.Context) {
	_, _, raw, ok := s.msgParam(c, c.Query("folder"), c.Query("uid"))
	if !ok {
		return
	}
	p := parseMessage(raw)
	imgs := c.Query("images") == "1"
	h := c.Writer.Header()
	if imgs {
		h.Set("Content-Security-Policy", bodyCSPImages)
	} else {
		h.Set("Content-Security-Policy", bodyCSP)
	}
	h.Set("X-Frame-Options", "SAMEORIGIN")
	clean := s.sanitize(p.HTML, imgs)
	doc := "<!doctype html><html><head><meta charset=\"utf-8\"><base target=\"_blank\">" +
		"<style>body{font-family:system-ui,sans-serif;font-size:14px;color:#1f2937;margin:12px;word-wrap:break-word}img{max-width:100%;height:auto}</style>" +
		"</head><body>" + clean + "</body></html>"
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(doc))
}

// messagePart downloads one part, always as an attachment and as
// application/octet-stream, so no HTML or SVG from mail ever renders on
// our origin.
func (s *Server) messagePart(c *gin.Context) {
	_, _, raw, ok := s.msgParam(c, c.Query("folder"), c.Query("uid"))
	if !ok {
		return
	}
	idx, err := strconv.Atoi(c.Query("part"))
	if err != nil || idx < 0 || idx >= maxParts {
		s.errorPage(c, http.StatusNotFound, "There is no such attachment.")
		return
	}
	body, name, _, ok := partBody(raw, idx)
	if !ok {
		s.errorPage(c, http.StatusNotFound, "There is no such attachment.")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Data(http.StatusOK, "application/octet-stream", body)
}
