package mx

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-milter"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
)

// Milter is one mail filter speaking the Sendmail milter protocol
// (rspamd's proxy worker, spamass-milter, clamav-milter, ...).
type Milter struct {
	Network, Address string // "tcp", "host:port" or "unix", "/path"
}

// ParseMilters reads the --milter form: addresses separated by commas,
// each host:port, inet:port@host, unix:/path or a path.
func ParseMilters(s string) ([]Milter, error) {
	var out []Milter
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			continue
		case strings.HasPrefix(a, "unix:"):
			out = append(out, Milter{"unix", strings.TrimPrefix(a, "unix:")})
		case strings.HasPrefix(a, "/"):
			out = append(out, Milter{"unix", a})
		case strings.HasPrefix(a, "inet:"):
			port, host, ok := strings.Cut(strings.TrimPrefix(a, "inet:"), "@")
			if !ok {
				host = "127.0.0.1"
			}
			out = append(out, Milter{"tcp", net.JoinHostPort(host, port)})
		default:
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("--milter %q: want host:port, inet:port@host or unix:/path", a)
			}
			out = append(out, Milter{"tcp", a})
		}
	}
	return out, nil
}

// milterResult is what the milters decided about one message.
type milterResult struct {
	msg        []byte            // the message with their header changes
	reply      *gosmtp.SMTPError // non-nil: refuse with this
	discard    bool              // accept and drop
	quarantine string            // non-empty: to Junk, with this reason
}

// runMilters passes the message through each milter in turn; each sees
// the header changes of the ones before. A milter that cannot be reached
// or does not answer in time gets the configured default: tempfail
// (451 4.7.1, the sender retries) or accept (the message goes on as if
// that milter had said nothing).
func (s *session) runMilters(msg []byte) milterResult {
	res := milterResult{msg: msg}
	for _, m := range s.s.cfg.Milters {
		r, err := s.oneMilter(m, res.msg)
		if err != nil {
			s.log.Warn("mx milter failed", "milter", m.Address, "err", err, "default", s.milterDefault())
			if s.s.cfg.MilterDefaultAccept {
				continue
			}
			res.reply = smtpErr(451, gosmtp.EnhancedCode{4, 7, 1}, "content filter unavailable, try again later")
			return res
		}
		res.msg = r.msg
		if r.quarantine != "" {
			res.quarantine = r.quarantine
		}
		if r.reply != nil || r.discard {
			res.reply, res.discard = r.reply, r.discard
			return res
		}
	}
	return res
}

func (s *session) milterDefault() string {
	if s.s.cfg.MilterDefaultAccept {
		return "accept"
	}
	return "tempfail"
}

// deadlineDialer remembers the connection it made, so the whole exchange
// can be cut off at once however the milter dribbles (progress packets
// reset go-milter's per-read timeout).
type deadlineDialer struct {
	d    net.Dialer
	mu   sync.Mutex
	conn net.Conn
}

func (d *deadlineDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := d.d.Dial(network, addr)
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	return c, err
}

func (d *deadlineDialer) cut() {
	d.mu.Lock()
	if d.conn != nil {
		d.conn.SetDeadline(time.Now())
	}
	d.mu.Unlock()
}

// oneMilter runs one milter conversation for msg (the whole message at
// the end of DATA: connection, HELO, envelope, header, body).
func (s *session) oneMilter(m Milter, msg []byte) (milterResult, error) {
	res := milterResult{msg: msg}
	timeout := s.s.cfg.MilterTimeout
	dialer := &deadlineDialer{d: net.Dialer{Timeout: timeout}}
	cut := time.AfterFunc(timeout, dialer.cut)
	defer cut.Stop()
	c := milter.NewClientWithOptions(m.Network, m.Address, milter.ClientOptions{
		Dialer: dialer, ReadTimeout: timeout, WriteTimeout: timeout,
		ActionMask: milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine,
	})
	ms, err := c.Session()
	if err != nil {
		return res, err
	}
	defer ms.Close()
	h, err := mailmsg.Scan(msg)
	if err != nil {
		return res, err
	}
	family := milter.FamilyInet
	if ip := net.ParseIP(s.ip); ip != nil && ip.To4() == nil {
		family = milter.FamilyInet6
	}
	ms.Macros(milter.CodeConn, "j", s.s.cfg.Hostname, "{daemon_name}", "authsmtp")
	ms.Macros(milter.CodeMail, "i", s.cid)
	steps := []func() (*milter.Action, error){
		func() (*milter.Action, error) { return ms.Conn(s.c.Hostname(), family, 0, s.ip) },
		func() (*milter.Action, error) { return ms.Helo(s.c.Hostname()) },
		func() (*milter.Action, error) { return ms.Mail("<"+s.from+">", nil) },
	}
	for _, rc := range s.d.Recipients() {
		steps = append(steps, func() (*milter.Action, error) { return ms.Rcpt("<"+rc.Address+">", nil) })
	}
	for _, f := range h.Fields {
		steps = append(steps, func() (*milter.Action, error) {
			_, v, _ := bytes.Cut(f.Raw, []byte(":"))
			return ms.HeaderField(f.Name, strings.TrimSuffix(string(bytes.TrimPrefix(v, []byte(" "))), "\r\n"))
		})
	}
	steps = append(steps, ms.HeaderEnd)
	for _, step := range steps {
		act, err := step()
		if err != nil {
			return res, err
		}
		if act.Code != milter.ActContinue {
			return s.milterAction(m, act, res), nil
		}
	}
	mods, act, err := ms.BodyReadFrom(bytes.NewReader(msg[h.Body:]))
	if err != nil {
		return res, err
	}
	res.msg, res.quarantine = applyMilterMods(msg, h, mods)
	return s.milterAction(m, act, res), nil
}

// milterAction turns a milter's final action into our result.
func (s *session) milterAction(m Milter, act *milter.Action, res milterResult) milterResult {
	switch act.Code {
	case milter.ActReject:
		s.log.Info("mx message refused by milter", "milter", m.Address)
		res.reply = smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "message refused by a content filter")
	case milter.ActTempFail:
		s.log.Info("mx message deferred by milter", "milter", m.Address)
		res.reply = smtpErr(451, gosmtp.EnhancedCode{4, 7, 1}, "message deferred by a content filter, try again later")
	case milter.ActReplyCode:
		code := act.SMTPCode
		if code < 400 || code > 599 {
			code = 550
		}
		ec := gosmtp.EnhancedCode{5, 7, 1}
		if code < 500 {
			ec = gosmtp.EnhancedCode{4, 7, 1}
		}
		text := strings.TrimSpace(act.SMTPText)
		// The milter's text may start with its own enhanced code.
		if f := strings.Fields(text); len(f) > 0 && strings.Count(f[0], ".") == 2 && (f[0][0] == '4' || f[0][0] == '5') {
			text = strings.TrimSpace(strings.TrimPrefix(text, f[0]))
		}
		if text == "" {
			text = "message refused by a content filter"
		}
		s.log.Info("mx message refused by milter", "milter", m.Address, "code", code)
		res.reply = smtpErr(code, ec, "%s", cleanReply(text))
	case milter.ActDiscard:
		s.log.Info("mx message discarded by milter", "milter", m.Address)
		res.discard = true
	}
	return res
}

// cleanReply keeps a milter's reply text on one printable line.
func cleanReply(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
		if b.Len() >= 200 {
			break
		}
	}
	return b.String()
}

// applyMilterMods applies header additions, insertions, changes and
// removals to msg, and returns the quarantine reason if a milter asked for
// one. Envelope and body changes are not negotiated, so never arrive.
func applyMilterMods(msg []byte, h *mailmsg.Header, mods []milter.ModifyAction) ([]byte, string) {
	if len(mods) == 0 {
		return msg, ""
	}
	fields := make([][]byte, 0, len(h.Fields)+len(mods))
	names := make([]string, 0, cap(fields))
	for _, f := range h.Fields {
		fields, names = append(fields, f.Raw), append(names, f.Name)
	}
	line := func(name, value string) []byte {
		value = strings.NewReplacer("\r", "", "\n", "").Replace(value)
		return []byte(name + ": " + strings.TrimSpace(value) + "\r\n")
	}
	quarantine := ""
	for _, m := range mods {
		switch m.Code {
		case milter.ActAddHeader:
			fields, names = append(fields, line(m.HeaderName, m.HeaderValue)), append(names, m.HeaderName)
		case milter.ActInsertHeader:
			i := min(int(m.HeaderIndex), len(fields))
			fields = append(fields[:i], append([][]byte{line(m.HeaderName, m.HeaderValue)}, fields[i:]...)...)
			names = append(names[:i], append([]string{m.HeaderName}, names[i:]...)...)
		case milter.ActChangeHeader:
			n := 0
			for i := range fields {
				if fields[i] == nil || !strings.EqualFold(names[i], m.HeaderName) {
					continue
				}
				if n++; n != int(m.HeaderIndex) {
					continue
				}
				if m.HeaderValue == "" {
					fields[i] = nil // removed
				} else {
					fields[i] = line(m.HeaderName, m.HeaderValue)
				}
				break
			}
		case milter.ActQuarantine:
			quarantine = cmp.Or(m.Reason, "quarantined by a content filter")
		}
	}
	var out bytes.Buffer
	out.Grow(len(msg) + 256)
	for _, f := range fields {
		out.Write(f)
	}
	out.WriteString("\r\n")
	out.Write(msg[h.Body:])
	return out.Bytes(), quarantine
}
