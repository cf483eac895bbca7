// Package milters passes a message through mail filters that speak the
// Sendmail milter protocol (rspamd's proxy worker in milter mode,
// spamass-milter, clamav-milter, ...), through github.com/emersion/go-milter.
// The MX runs them on mail from the internet (--milter), submission on
// mail from logged-in users (--submission-milter); both read the result
// the same way.
//
// A milter that cannot be reached or does not answer in time never hangs
// the message: the chain's default decides (tempfail: 451 4.7.1, the
// sender retries; accept: as if that milter had said nothing).
package milters

import (
	"bytes"
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-milter"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
)

// Milter is one mail filter's address.
type Milter struct {
	Network, Address string // "tcp", "host:port" or "unix", "/path"
}

// Parse reads the --milter form: addresses separated by commas, each
// host:port, inet:port@host, unix:/path or a path.
func Parse(s string) ([]Milter, error) {
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
				return nil, fmt.Errorf("milter %q: want host:port, inet:port@host or unix:/path", a)
			}
			out = append(out, Milter{"tcp", a})
		}
	}
	return out, nil
}

// Chain is the milters one service runs, in order, and what happens when
// one of them fails.
type Chain struct {
	Milters []Milter
	// Timeout bounds one milter's whole conversation about one message
	// (30s when zero).
	Timeout time.Duration
	// DefaultAccept passes over a milter that is down or too slow; false
	// refuses the message with 451 4.7.1 (the sender retries).
	DefaultAccept bool
	// Hostname is this host's name, shown to milters as the "j" macro.
	Hostname string
	// Daemon names the service in the {daemon_name} macro ("mx",
	// "submission"); rspamd and others may treat them differently.
	Daemon string
}

// Envelope is what the milters are told about the SMTP session.
type Envelope struct {
	ClientHost, ClientIP string // the client's name and address ("" if none)
	Helo                 string
	From                 string   // envelope sender ("" for <>)
	Rcpts                []string // envelope recipients
	QueueID              string   // the "i" macro (the session id)
	// AuthLogin is the login of an authenticated client, the
	// {auth_authen} macro: rspamd and others scan authenticated mail as
	// outbound.
	AuthLogin string
}

// Result is what the milters decided about one message.
type Result struct {
	// Header, when not nil, is the new header section (ending with the
	// empty line) that replaces the message's: their header changes.
	Header []byte
	// Reply, when not nil, refuses the message with this reply.
	Reply *gosmtp.SMTPError
	// Discard: accept the message and drop it.
	Discard bool
	// Quarantine, when not empty, is a milter's reason to hold the message.
	Quarantine string
}

// Default returns the name of the chain's default for logs.
func (c *Chain) Default() string {
	if c.DefaultAccept {
		return "accept"
	}
	return "tempfail"
}

// Run passes msg through each milter in turn; each sees the header
// changes of the ones before. log gets one line per decision.
func (c *Chain) Run(env Envelope, msg []byte, log *slog.Logger) Result {
	var res Result
	h, err := mailmsg.Scan(msg)
	if err != nil {
		log.Warn("milter: unreadable header", "err", err)
		return c.failed(res)
	}
	header, body := msg[:h.Body], msg[h.Body:]
	for _, m := range c.Milters {
		r, err := c.one(m, env, h, body)
		if err != nil {
			log.Warn("milter failed", "milter", m.Address, "err", err, "default", c.Default())
			if c.DefaultAccept {
				continue
			}
			return c.failed(res)
		}
		if r.Header != nil {
			res.Header = r.Header
			if h, err = mailmsg.Scan(r.Header); err != nil {
				return c.failed(res) // our own output: cannot happen
			}
		}
		if r.Quarantine != "" {
			res.Quarantine = r.Quarantine
		}
		if r.Reply != nil || r.Discard {
			res.Reply, res.Discard = r.Reply, r.Discard
			logDecision(log, m, r)
			return res
		}
	}
	if res.Header != nil && bytes.Equal(res.Header, header) {
		res.Header = nil
	}
	return res
}

func (c *Chain) failed(res Result) Result {
	res.Reply = smtpd.Reply(451, gosmtp.EnhancedCode{4, 7, 1}, "content filter unavailable, try again later")
	return res
}

func logDecision(log *slog.Logger, m Milter, r Result) {
	if r.Discard {
		log.Info("message discarded by milter", "milter", m.Address)
		return
	}
	log.Info("message refused by milter", "milter", m.Address, "code", r.Reply.Code)
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

// one runs one milter conversation for the message whose header is h
// (scanned from its header section) and whose body is body: connection,
// HELO, envelope, header, body.
func (c *Chain) one(m Milter, env Envelope, h *mailmsg.Header, body []byte) (Result, error) {
	var res Result
	timeout := cmp.Or(c.Timeout, 30*time.Second)
	dialer := &deadlineDialer{d: net.Dialer{Timeout: timeout}}
	cut := time.AfterFunc(timeout, dialer.cut)
	defer cut.Stop()
	cl := milter.NewClientWithOptions(m.Network, m.Address, milter.ClientOptions{
		Dialer: dialer, ReadTimeout: timeout, WriteTimeout: timeout,
		ActionMask: milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine,
	})
	ms, err := cl.Session()
	if err != nil {
		return res, err
	}
	defer ms.Close()
	family := milter.FamilyUnknown
	if ip := net.ParseIP(env.ClientIP); ip != nil {
		family = milter.FamilyInet
		if ip.To4() == nil {
			family = milter.FamilyInet6
		}
	}
	// Each stage's macros go just before that stage: a milter keeps only
	// the last macro packet it was sent.
	helo := cmp.Or(env.Helo, env.ClientHost, "localhost")
	steps := []func() (*milter.Action, error){
		func() (*milter.Action, error) {
			if err := ms.Macros(milter.CodeConn, "j", c.Hostname, "{daemon_name}", cmp.Or(c.Daemon, "authsmtp")); err != nil {
				return nil, err
			}
			return ms.Conn(cmp.Or(env.ClientHost, "localhost"), family, 0, env.ClientIP)
		},
		func() (*milter.Action, error) { return ms.Helo(helo) },
		func() (*milter.Action, error) {
			kv := []string{"i", env.QueueID}
			if env.AuthLogin != "" {
				kv = append(kv, "{auth_authen}", env.AuthLogin, "{auth_type}", "PLAIN")
			}
			if err := ms.Macros(milter.CodeMail, kv...); err != nil {
				return nil, err
			}
			return ms.Mail("<"+env.From+">", nil)
		},
	}
	for _, rc := range env.Rcpts {
		steps = append(steps, func() (*milter.Action, error) { return ms.Rcpt("<"+rc+">", nil) })
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
			return action(act, res), nil
		}
	}
	mods, act, err := ms.BodyReadFrom(bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	res.Header, res.Quarantine = applyMods(h, mods)
	return action(act, res), nil
}

// action turns a milter's final action into the result.
func action(act *milter.Action, res Result) Result {
	switch act.Code {
	case milter.ActReject:
		res.Reply = smtpd.Reply(550, gosmtp.EnhancedCode{5, 7, 1}, "message refused by a content filter")
	case milter.ActTempFail:
		res.Reply = smtpd.Reply(451, gosmtp.EnhancedCode{4, 7, 1}, "message deferred by a content filter, try again later")
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
		res.Reply = smtpd.Reply(code, ec, "%s", CleanText(text))
	case milter.ActDiscard:
		res.Discard = true
	}
	return res
}

// CleanText keeps a milter's text (a reply, a quarantine reason) on one
// printable line of at most 200 bytes.
func CleanText(s string) string {
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

// applyMods applies header additions, insertions, changes and removals
// to the header h and returns the new header section (nil when nothing
// changed) and the quarantine reason if a milter asked for one. Envelope
// and body changes are not negotiated, so never arrive.
func applyMods(h *mailmsg.Header, mods []milter.ModifyAction) ([]byte, string) {
	changed, quarantine := false, ""
	fields := make([][]byte, 0, len(h.Fields)+len(mods))
	names := make([]string, 0, cap(fields))
	for _, f := range h.Fields {
		fields, names = append(fields, f.Raw), append(names, f.Name)
	}
	line := func(name, value string) []byte {
		value = strings.NewReplacer("\r", "", "\n", "").Replace(value)
		return []byte(name + ": " + strings.TrimSpace(value) + "\r\n")
	}
	for _, m := range mods {
		switch m.Code {
		case milter.ActAddHeader:
			changed = true
			fields, names = append(fields, line(m.HeaderName, m.HeaderValue)), append(names, m.HeaderName)
		case milter.ActInsertHeader:
			changed = true
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
				changed = true
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
	if !changed {
		return nil, quarantine
	}
	var out bytes.Buffer
	for _, f := range fields {
		out.Write(f)
	}
	out.WriteString("\r\n")
	return out.Bytes(), quarantine
}
