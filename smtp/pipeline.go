// Package smtp is authsmtp's SMTP side: the one submission pipeline that
// SMTP submission and webmail both use (Pipeline), and the submission
// server on ports 587 (STARTTLS) and 465 (implicit TLS) built on go-smtp.
//
// The pipeline holds no policy of its own beyond ordering: the send rule is
// store.MaySendAs, the caps are store.SendCaps (counted by the delivery's
// commit), routing is store.Route and the durable commit is the store's
// delivery contract (store.Delivery).
// It sees the store through Store, the five methods it needs. Every
// refusal is a *gosmtp.SMTPError whose code can go straight back to an
// SMTP client; webmail gets it as a webui.Refused (internal/serve).
//
// # What go-smtp (v0.25.1) does for us, and where it falls short
//
//   - DATA ends only at CRLF.CRLF; the body keeps its line endings, and
//     Submit refuses any bare CR or LF (550 5.5.2) rather than repair it.
//     One exception: a line starting ".\r" not followed by "\n" loses those
//     two bytes in go-smtp's reader, so that message is stored as one
//     message (nothing is smuggled, nothing is refused).
//   - STARTTLS drops bytes pipelined after it and ends the session
//     (Logout); the next EHLO makes a new session, so no login survives.
//     MAIL before that EHLO gets 502 (not 503).
//   - A line over --max-line closes the connection with 500, but the part
//     go-smtp had already buffered may first run as a command.
//   - Invalid base64 in an AUTH response gets go-smtp's own 454 4.7.0;
//     our SASL servers answer every other malformed AUTH with 501.
//   - It recovers a panic per command (421 and close); Data recovers its own.
package smtp

import (
	"context"
	"errors"
	"log/slog"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/smtp/milters"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailparse"
)

// Store is what submission needs of the store: the one login path and its
// revocations, the send rule, the login's send limits and the delivery
// contract. *store.Store implements it (guarded in the tests).
type Store interface {
	Login(ctx context.Context, protocol, ip, login, password string) (store.Principal, error)
	SMTPRevoked(p store.Principal) bool
	MaySendAs(p store.Principal, address string) bool
	LimitsFor(p store.Principal) store.SendLimits
	BeginDelivery(env store.Envelope) *store.Delivery
}

// Pipeline is the submission path shared by SMTP and webmail: send rule on
// the envelope and on every From:/Sender: address, send caps, RFC 6409
// fix-ups, optional signing, routing, and the fsynced acceptance.
type Pipeline struct {
	Store    Store
	Hostname string // for Message-ID and Received
	Log      *slog.Logger
	// Signer signs accepted messages that have remote recipients when set
	// (DKIM); nil: no signing.
	Signer smtpd.Signer
	// Capture keeps mail for remote recipients instead of delivering it
	// (demo mode): the queue entry is marked Captured.
	Capture bool
	// Milters, when set with at least one milter, see every submitted
	// message after the send rule and before the send caps, signing and
	// the commit (--submission-milter; see runMilters).
	Milters *milters.Chain
}

// NewPipeline returns a pipeline over st. The send caps are counted by
// the store's delivery (store.Content.Cap), in st's Caps.
func NewPipeline(st Store, hostname string, log *slog.Logger) *Pipeline {
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{Store: st, Hostname: hostname, Log: log}
}

// Trace describes where a submission came from, for its Received header.
// Put one in the context with WithTrace; without one Submit writes a
// Received header naming only this host.
type Trace struct {
	Helo     string // the client's EHLO name
	IP       string // the client's address
	Protocol string // "ESMTPSA" for SMTP submission (RFC 3848); "" names none
	TLS      string // e.g. "TLS1.3 TLS_AES_128_GCM_SHA256"; "" when none
	ID       string // the session id, shown in logs (cid)
	Service  string // the log's service attribute of that session
}

type traceKey struct{}

// WithTrace returns ctx carrying t for Submit.
func WithTrace(ctx context.Context, t Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

func traceFrom(ctx context.Context) Trace {
	t, _ := ctx.Value(traceKey{}).(Trace)
	return t
}

var smtpErr = smtpd.Reply

// CheckSender applies the send rule to the envelope sender: an empty
// sender (<>) and any address outside the login's scope are refused with
// 553 5.7.1 saying what the login may send as.
func (p *Pipeline) CheckSender(who store.Principal, from string) error {
	if from == "" || !p.Store.MaySendAs(who, from) {
		return smtpErr(553, gosmtp.EnhancedCode{5, 7, 1}, "%s", store.SendAsError(who, store.SanitizeLog(from)))
	}
	return nil
}

// Submission is one message going through the pipeline: Begin checks the
// login and the envelope sender (once), AddRecipient routes each
// recipient (once), Commit checks the header, counts the send caps,
// stamps, signs and stores the message; Abort drops it. It wraps the
// store's delivery contract (store.Delivery).
type Submission struct {
	p    *Pipeline
	who  store.Principal
	d    *store.Delivery
	n    int    // recipients given, for the send caps
	from string // the envelope sender, for the milters
}

// Begin starts a submission from who with envelope sender from. size is
// the SIZE= the client announced (0: none), for the quota check at
// AddRecipient. Errors are *gosmtp.SMTPError.
func (p *Pipeline) Begin(who store.Principal, from string, size int64) (*Submission, error) {
	if who.Kind != store.KindDomain && who.Kind != store.KindUser {
		return nil, smtpErr(530, gosmtp.EnhancedCode{5, 7, 0}, "authentication required")
	}
	if err := p.CheckSender(who, from); err != nil {
		return nil, err
	}
	norm, _ := store.NormalizeAddress(from)
	d := p.Store.BeginDelivery(store.Envelope{From: norm, Login: who.Login(), Captured: p.Capture, Size: size})
	return &Submission{p: p, who: who, d: d, from: norm}, nil
}

// AddRecipient routes one recipient: a hosted user is local, a hosted
// domain without that user is 550 5.1.1, a full mailbox 552 5.2.2, any
// other domain is remote.
func (sub *Submission) AddRecipient(rcpt string) error {
	_, err := sub.d.AddRecipient(rcpt)
	switch {
	case err == nil:
		sub.n++
		return nil
	case errors.Is(err, store.ErrNoSuchUser):
		return smtpErr(550, gosmtp.EnhancedCode{5, 1, 1}, "no such user here: %s", store.SanitizeLog(rcpt))
	case errors.Is(err, store.ErrBadAddress):
		return smtpErr(553, gosmtp.EnhancedCode{5, 1, 3}, "invalid recipient address: %s", store.SanitizeLog(rcpt))
	case errors.Is(err, store.ErrOverQuota):
		return smtpErr(552, gosmtp.EnhancedCode{5, 2, 2}, "mailbox full: %s", store.SanitizeLog(rcpt))
	}
	sub.p.Log.Error("routing recipient", "rcpt", store.SanitizeLog(rcpt), "err", err)
	return smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "temporary failure looking up the recipient: try again later")
}

// Abort drops the submission; nothing was stored.
func (sub *Submission) Abort() { sub.d.Abort() }

// Submit accepts one message from an authenticated principal: Begin,
// AddRecipient for each of rcpts, Commit. msg is the whole message with
// CRLF line endings (see mailmsg.NormalizeCRLF). It returns only after the
// message is durably stored (delivered to hosted mailboxes and/or queued);
// every error is a *gosmtp.SMTPError.
func (p *Pipeline) Submit(ctx context.Context, who store.Principal, from string, rcpts []string, msg []byte) (*store.Accepted, error) {
	sub, err := p.Begin(who, from, 0)
	if err != nil {
		return nil, err
	}
	for _, rc := range rcpts {
		if err := sub.AddRecipient(rc); err != nil {
			sub.Abort()
			return nil, err
		}
	}
	return sub.Commit(ctx, smtpd.NewData(msg))
}

// Commit checks the message's header against the send rule, counts it
// against the login's send caps, adds the RFC 6409 fix-ups and the DKIM
// signature on top of msg (in its headroom), and stores it. It returns
// only after the message is durably stored.
func (sub *Submission) Commit(ctx context.Context, msg *smtpd.Data) (*store.Accepted, error) {
	p, who := sub.p, sub.who
	if len(sub.d.Recipients()) == 0 {
		sub.Abort()
		return nil, smtpErr(554, gosmtp.EnhancedCode{5, 5, 1}, "no valid recipients")
	}
	env, err := p.checkMessage(who, msg.Bytes())
	if err != nil {
		sub.Abort()
		return nil, err
	}
	if p.Milters != nil && len(p.Milters.Milters) > 0 {
		changed, err := sub.runMilters(ctx, msg)
		if err != nil {
			sub.Abort()
			if err == errDiscarded {
				return &store.Accepted{}, nil
			}
			return nil, err
		}
		// A milter's header changes pass the send rule like the client's.
		if changed {
			if env, err = p.checkMessage(who, msg.Bytes()); err != nil {
				sub.Abort()
				return nil, err
			}
		}
	}
	msg.Prepend(p.fixups(ctx, env.header))
	// Only mail that leaves this host is signed: a DKIM signature is for
	// the receiving MTA, and a hosted mailbox has none to check it. The
	// RSA signature was half the CPU of local submission.
	if p.Signer != nil && sub.hasRemote() {
		sig, err := p.Signer.SignatureFields(msg.Bytes())
		if err != nil {
			sub.Abort()
			p.Log.Error("signing message", "login", who.Login(), "err", err)
			return nil, smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "temporary failure signing the message: try again later")
		}
		msg.Prepend(sig)
	}
	t := traceFrom(ctx)
	// The send caps count the message as it is stored (in its own
	// transaction when the counters are in a shared database).
	charge := &store.CapCharge{Login: who.Login(), Limits: p.Store.LimitsFor(who), Rcpts: sub.n}
	acc, err := sub.d.Commit(store.Content{Body: msg.Bytes(), Subject: env.header.Subject(), Service: t.Service, CID: t.ID, Cap: charge})
	if ce := (*store.CapError)(nil); errors.As(err, &ce) {
		return nil, smtpErr(451, gosmtp.EnhancedCode{4, 7, 1}, "%s", ce.Error())
	}
	if err != nil {
		return nil, smtpd.AcceptError(p.Log.With("login", who.Login()), err,
			smtpErr(552, gosmtp.EnhancedCode{5, 2, 2}, "a recipient's mailbox is full"))
	}
	return acc, nil
}

func (sub *Submission) hasRemote() bool {
	for _, r := range sub.d.Recipients() {
		if len(r.Route.Remote) > 0 {
			return true
		}
	}
	return false
}

type checked struct{ header *mailmsg.Header }

// checkMessage refuses bare line endings, a malformed header and From:/
// Sender: addresses outside the login's scope.
func (p *Pipeline) checkMessage(who store.Principal, msg []byte) (checked, error) {
	// SMTP smuggling: a bare CR or LF is never repaired, the message is refused.
	if i := mailmsg.BareNewline(msg); i >= 0 {
		return checked{}, smtpErr(550, gosmtp.EnhancedCode{5, 5, 2}, "bare CR or LF in the message at byte %d: lines must end with CRLF", i)
	}
	if i := mailparse.NULInHeader(msg); i >= 0 {
		return checked{}, smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "NUL byte in the message header at byte %d", i)
	}
	h, err := mailmsg.Scan(msg)
	if err == nil {
		err = h.Problem
	}
	if err != nil {
		return checked{}, smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "malformed message header: %v", err)
	}
	if err := p.checkHeaderSenders(who, h); err != nil {
		return checked{}, err
	}
	return checked{header: h}, nil
}

// checkHeaderSenders applies the send rule to every address of every
// From:, Sender:, Resent-From: and Resent-Sender: field. From: must name at
// least one mailbox of its own: a group with no members ("CEO":;) does not
// count, nor does the Sender: (RFC 5322 §3.6.2 makes From: the author).
// A message without From: is refused (RFC 5322 §3.6: exactly one
// origination address field). Resent-* fields name whoever re-sends the
// message (§3.6.6), so they are in scope exactly like From: and Sender:.
func (p *Pipeline) checkHeaderSenders(who store.Principal, h *mailmsg.Header) error {
	if !h.Has("From") {
		return smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "the message has no From: header")
	}
	mailboxes := map[string]int{}
	for _, field := range []struct {
		name   string
		values []string
	}{{"From", h.Values("From")}, {"Sender", h.Values("Sender")}, {"Resent-From", h.Values("Resent-From")}, {"Resent-Sender", h.Values("Resent-Sender")}} {
		for _, v := range field.values {
			addrs, err := mailmsg.ParseAddressList(v)
			if err != nil {
				return smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "cannot parse the %s: header (%v)", field.name, err)
			}
			for _, a := range addrs {
				mailboxes[field.name]++
				if !p.Store.MaySendAs(who, a) {
					return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "%s: header: %s", field.name, store.SendAsError(who, store.SanitizeLog(a)))
				}
			}
		}
	}
	if mailboxes["From"] == 0 {
		return smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "the From: header has no address: it must name at least one mailbox")
	}
	if h.Has("Resent-Sender") && mailboxes["Resent-From"] == 0 {
		return smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "Resent-Sender: without a Resent-From: address")
	}
	return nil
}

// fixups returns the RFC 6409 §8 submission fix-ups to put on top of the
// message: a Received header always, Date and Message-ID when missing.
func (p *Pipeline) fixups(ctx context.Context, h *mailmsg.Header) []byte {
	now := time.Now()
	t := traceFrom(ctx)
	pre := make([]byte, 0, 512)
	pre = append(pre, "Received: "...)
	if t.Helo != "" || t.IP != "" {
		pre = append(pre, "from "...)
		pre = append(pre, cleanToken(t.Helo, "unknown")...)
		if t.IP != "" {
			pre = append(pre, " (["...)
			pre = append(pre, t.IP...)
			pre = append(pre, "])"...)
		}
		pre = append(pre, "\r\n\t"...)
	}
	pre = append(pre, "by "...)
	pre = append(pre, cleanToken(p.Hostname, "localhost")...)
	pre = append(pre, " (authsmtp)"...)
	if t.Protocol != "" { // webmail (no trace) names none
		pre = append(pre, " with "...)
		pre = append(pre, cleanToken(t.Protocol, "")...)
	}
	if t.TLS != "" {
		pre = append(pre, " ("...)
		pre = append(pre, cleanComment(t.TLS)...)
		pre = append(pre, ')')
	}
	if t.ID != "" {
		pre = append(pre, " id "...)
		pre = append(pre, cleanToken(t.ID, "")...)
	}
	pre = append(pre, ";\r\n\t"...)
	pre = now.AppendFormat(pre, rfc5322Date)
	pre = append(pre, "\r\n"...)
	if !h.Has("Date") {
		pre = append(pre, "Date: "...)
		pre = now.AppendFormat(pre, rfc5322Date)
		pre = append(pre, "\r\n"...)
	}
	if !h.Has("Message-ID") {
		pre = append(pre, "Message-ID: <"...)
		pre = append(pre, store.RandomToken(18)...)
		pre = append(pre, '@')
		pre = append(pre, cleanToken(p.Hostname, "localhost")...)
		pre = append(pre, ">\r\n"...)
	}
	return pre
}

const rfc5322Date = "Mon, 02 Jan 2006 15:04:05 -0700"

// cleanToken keeps a value from breaking out of the Received header:
// only printable ASCII without spaces, parentheses or ';' survives.
func cleanToken(s, def string) string { return clean(s, def, false) }

// cleanComment is cleanToken for text inside a comment: spaces allowed.
func cleanComment(s string) string { return clean(s, "", true) }

func clean(s, def string, space bool) string {
	if len(s) > 255 {
		s = s[:255]
	}
	b := []byte(s)
	n := 0
	for _, c := range b {
		if c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != ';' || space && c == ' ' {
			b[n] = c
			n++
		}
	}
	if n == 0 {
		return def
	}
	return string(b[:n])
}
