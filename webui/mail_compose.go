package webui

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	netmail "net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/store"
)

// maxComposeRcpts bounds To+Cc+Bcc of one webmail message.
const maxComposeRcpts = 100

type composeData struct {
	From, To, Cc, Bcc, Subject, Body string
	FromFixed                        bool // a user login: From is its address (or an alias it may send as)
	FromChoices                      []string
	Domain                           string // a domain login's domain
	WebmailOff                       bool
	InReplyTo, References            string
	ReplyFolder, ReplyUID            string // the message answered, flagged \Answered once sent
	Sent                             bool
}

func (s *Server) composeDefaults(sess *store.Session) composeData {
	p := sess.Principal()
	d := composeData{Domain: p.Domain}
	if p.Kind == store.KindUser {
		// The store's list, so webmail offers exactly what MaySendAs allows.
		d.FromChoices = s.st.SendAsAddresses(p)
		d.From, d.FromFixed = p.Address, true
	} else {
		d.From = "@" + p.Domain
	}
	d.WebmailOff = s.st.CheckWebmail(p) != nil
	return d
}

// composeFrom reads the From typed or chosen on the form: an address with
// an optional display name ("Sales <sales@doe.com>"). Nothing is rewritten:
// an address the login may not send as is refused with the same words as
// SMTP's 553 (store.SendAsError), saying what is wrong with it.
func (s *Server) composeFrom(p store.Principal, typed string) (*mail.Address, error) {
	typed = strings.TrimSpace(typed)
	if typed == "" && p.Kind == store.KindUser {
		typed = p.Address
	}
	name, addr := "", typed
	if a, err := netmail.ParseAddress(typed); err == nil {
		name, addr = a.Name, a.Address
	} else if i := strings.LastIndexByte(typed, '<'); i >= 0 && strings.HasSuffix(typed, ">") {
		addr = typed[i+1 : len(typed)-1]
	}
	n, err := store.NormalizeAddress(addr)
	if err != nil || !s.st.MaySendAs(p, n) {
		return nil, errors.New(store.SendAsError(p, store.SanitizeLog(addr)))
	}
	return &mail.Address{Name: name, Address: n}, nil
}

func (s *Server) composePage(c *gin.Context) {
	sess := sessionOf(c)
	d := s.composeDefaults(sess)
	if sess.Kind == store.KindUser {
		s.prefillReply(c, sess, &d)
	}
	s.render(c, http.StatusOK, "mail_compose", page{Title: "Compose", Area: "mail", Nav: "compose", Data: d})
}

// composeErr shows the form again with what was typed and why it failed.
func (s *Server) composeErr(c *gin.Context, status int, d composeData, msg string) {
	reason := metrics.ReasonSyntax
	switch status {
	case http.StatusForbidden:
		reason = metrics.ReasonSendAs
		if d.WebmailOff {
			reason = metrics.ReasonPolicy
		}
	case http.StatusRequestEntityTooLarge:
		reason = metrics.ReasonSize
	case http.StatusServiceUnavailable:
		reason = metrics.ReasonOther
	}
	s.cfg.Metrics.Refused(metrics.ProtoWeb, reason)
	s.render(c, status, "mail_compose", page{Title: "Compose", Area: "mail", Nav: "compose", Flash: msg, FlashErr: true, Data: d})
}

func (s *Server) composePost(c *gin.Context) {
	sess := sessionOf(c)
	p := sess.Principal()
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxSize+1<<20)
	d := s.composeDefaults(sess)
	if err := c.Request.ParseMultipartForm(8 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		s.composeErr(c, http.StatusRequestEntityTooLarge, d, "The message is too large: at most "+humanSize(s.cfg.MaxSize)+" with attachments.")
		return
	}
	if c.Request.MultipartForm != nil {
		defer c.Request.MultipartForm.RemoveAll()
	}
	if f := strings.TrimSpace(c.PostForm("from")); f != "" || !d.FromFixed {
		d.From = f
	}
	d.To, d.Cc, d.Bcc = c.PostForm("to"), c.PostForm("cc"), c.PostForm("bcc")
	d.Subject, d.Body = c.PostForm("subject"), c.PostForm("body")
	d.InReplyTo, d.References = c.PostForm("in_reply_to"), c.PostForm("references")
	d.ReplyFolder, d.ReplyUID = c.PostForm("reply_folder"), c.PostForm("reply_uid")

	// Header fields may never carry a line break: "\r\nBcc: x" must not
	// become a header of its own. Refuse rather than repair.
	for _, f := range []string{d.From, d.To, d.Cc, d.Bcc, d.Subject, d.InReplyTo, d.References} {
		if hasCRLF(f) {
			s.composeErr(c, http.StatusBadRequest, d, "Line breaks are not allowed in From, To, Cc, Bcc or Subject.")
			return
		}
	}
	if d.WebmailOff {
		s.composeErr(c, http.StatusForbidden, d, "Webmail sending is turned off for "+p.Domain+". The admin can turn it on.")
		return
	}
	if s.cfg.Submitter == nil {
		s.composeErr(c, http.StatusServiceUnavailable, d, "Sending is not available on this server right now.")
		return
	}
	fromAddr, err := s.composeFrom(p, d.From)
	if err != nil {
		s.composeErr(c, http.StatusForbidden, d, "Not sent: "+err.Error()+".")
		return
	}
	from := fromAddr.Address
	var to, cc, bcc []*mail.Address
	var rcpts []string
	for _, f := range []struct {
		name, v string
		dst     *[]*mail.Address
	}{{"To", d.To, &to}, {"Cc", d.Cc, &cc}, {"Bcc", d.Bcc, &bcc}} {
		list, err := parseRcpts(f.v)
		if err != nil {
			s.composeErr(c, http.StatusBadRequest, d, f.name+": "+err.Error())
			return
		}
		*f.dst = list
		for _, a := range list {
			rcpts = append(rcpts, a.Address)
		}
	}
	if len(rcpts) == 0 {
		s.composeErr(c, http.StatusBadRequest, d, "Add at least one recipient.")
		return
	}
	if len(rcpts) > maxComposeRcpts {
		s.composeErr(c, http.StatusBadRequest, d, fmt.Sprintf("At most %d recipients per message.", maxComposeRcpts))
		return
	}
	var files []*multipart.FileHeader
	if c.Request.MultipartForm != nil {
		files = c.Request.MultipartForm.File["attachment"]
	}
	msg, err := s.buildMessage(sess, fromAddr, to, cc, d, files)
	if err != nil {
		s.composeErr(c, http.StatusBadRequest, d, err.Error())
		return
	}
	if int64(len(msg)) > s.cfg.MaxSize {
		s.composeErr(c, http.StatusRequestEntityTooLarge, d, "The message is too large: at most "+humanSize(s.cfg.MaxSize)+" with attachments.")
		return
	}
	acc, err := s.cfg.Submitter.Submit(c.Request.Context(), p, from, rcpts, msg)
	if err != nil {
		var refused *Refused
		text := "The message could not be sent."
		if errors.As(err, &refused) {
			text = "Not sent: " + refused.Reason
		} else {
			s.log.Warn("web: submit failed", "login", p.Login(), "err", err)
		}
		s.composeErr(c, http.StatusBadRequest, d, text)
		return
	}
	s.cfg.Metrics.Accepted(metrics.ProtoWeb)
	if p.Kind == store.KindUser {
		if _, err := s.st.Append(p.Address, "Sent", msg, []string{`\Seen`}, time.Now()); err != nil {
			s.log.Warn("web: saving to Sent", "login", p.Login(), "err", err)
		}
		if uid, err := strconv.ParseUint(d.ReplyUID, 10, 32); err == nil && uid > 0 {
			s.st.SetFlags(p.Address, d.ReplyFolder, []uint32{uint32(uid)}, store.FlagsAdd, []string{`\Answered`})
		}
	}
	qid := ""
	if acc != nil {
		qid = acc.QueueID
	}
	s.log.Info("web: message sent", "login", p.Login(), "from", from, "rcpts", len(rcpts), "queue", qid)
	s.flash(c, fmt.Sprintf("Sent to %d recipient(s) from %s.", len(rcpts), from), false)
	if p.Kind == store.KindUser {
		back(c, "/mail/folder?name=Sent")
	} else {
		back(c, "/mail/compose")
	}
}

// parseRcpts reads a comma-separated address list as a person types it.
func parseRcpts(v string) ([]*mail.Address, error) {
	v = strings.TrimSpace(strings.Trim(strings.TrimSpace(v), ",;"))
	if v == "" {
		return nil, nil
	}
	v = strings.ReplaceAll(v, ";", ",")
	list, err := netmail.ParseAddressList(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not a list of email addresses", v)
	}
	out := make([]*mail.Address, 0, len(list))
	for _, a := range list {
		n, err := store.NormalizeAddress(a.Address)
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid email address", a.Address)
		}
		out = append(out, &mail.Address{Name: a.Name, Address: n})
	}
	return out, nil
}

// buildMessage writes an RFC 5322 message with CRLF line endings: a
// text/plain body and the attachments. go-message encodes the header
// words and parameters, so no typed text reaches a header raw.
func (s *Server) buildMessage(sess *store.Session, fromAddr *mail.Address, to, cc []*mail.Address, d composeData, files []*multipart.FileHeader) ([]byte, error) {
	var h mail.Header
	from := fromAddr.Address
	if sess.Kind == store.KindUser && fromAddr.Name == "" {
		if u, err := s.st.GetUser(sess.Address); err == nil && !hasCRLF(u.DisplayName) {
			fromAddr.Name = u.DisplayName
		}
	}
	h.SetAddressList("From", []*mail.Address{fromAddr})
	if len(to) > 0 {
		h.SetAddressList("To", to)
	}
	if len(cc) > 0 {
		h.SetAddressList("Cc", cc)
	}
	h.SetSubject(d.Subject)
	h.SetDate(time.Now())
	host := s.cfg.Hostname
	if host == "" {
		host = store.DomainOf(from)
	}
	if err := h.GenerateMessageIDWithHostname(host); err != nil {
		return nil, fmt.Errorf("making a Message-ID: %w", err)
	}
	if id := cleanMsgID(d.InReplyTo); id != "" {
		h.Set("In-Reply-To", "<"+id+">")
		refs := []string{}
		for _, r := range strings.Fields(d.References) {
			if x := cleanMsgID(r); x != "" && len(refs) < 20 {
				refs = append(refs, "<"+x+">")
			}
		}
		refs = append(refs, "<"+id+">")
		h.Set("References", strings.Join(refs, " "))
	}
	h.Set("User-Agent", "authsmtp webmail")
	body := strings.ReplaceAll(strings.ReplaceAll(d.Body, "\r\n", "\n"), "\n", "\r\n")

	var buf bytes.Buffer
	var th mail.InlineHeader
	th.Set("Content-Type", "text/plain; charset=utf-8")
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	if len(files) == 0 {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := mail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, fmt.Errorf("writing the message: %w", err)
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("writing the message: %w", err)
		}
		return buf.Bytes(), nil
	}
	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("writing the message: %w", err)
	}
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, fmt.Errorf("writing the message: %w", err)
	}
	io.WriteString(tw, body)
	tw.Close()
	for _, fh := range files {
		name := filepath.Base(strings.ReplaceAll(fh.Filename, "\\", "/"))
		if hasCRLF(name) || name == "." || name == "/" {
			name = "attachment"
		}
		var ah mail.AttachmentHeader
		ct := mime.TypeByExtension(filepath.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		ah.Set("Content-Type", ct)
		ah.SetFilename(name)
		f, err := fh.Open()
		if err != nil {
			return nil, fmt.Errorf("reading attachment %s: %w", name, err)
		}
		aw, err := mw.CreateAttachment(ah)
		if err == nil {
			_, err = io.Copy(aw, f)
			aw.Close()
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("attaching %s: %w", name, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("writing the message: %w", err)
	}
	return buf.Bytes(), nil
}

// cleanMsgID keeps a message id only if it is plain: no brackets, spaces
// or control characters.
func cleanMsgID(v string) string {
	v = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "<"), ">"))
	if v == "" || len(v) > 250 || !strings.Contains(v, "@") || strings.ContainsAny(v, "<> \t\r\n\"\\") {
		return ""
	}
	return v
}
