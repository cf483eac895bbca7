package mx

import (
	"errors"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailparse"
)

var smtpErr = smtpd.Reply

var (
	errRelay    = smtpErr(554, gosmtp.EnhancedCode{5, 7, 1}, "relay access denied: this server only takes mail for its own domains")
	errNoAuth   = smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "no AUTH on the MX port: submit mail on port 587 or 465")
	errInternal = smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "internal error, try again later")
)

type session struct {
	s   *Server
	c   *gosmtp.Conn
	ip  string
	cid string
	log *slog.Logger

	from    string
	size    int64           // SIZE= from MAIL, 0 if not given
	d       *store.Delivery // from MAIL to the end of the transaction
	reports []reportRcpt    // report addresses among the recipients (reports.go)
	unknown int
	lists   *dnsListVerdict // looked up at the first RCPT
	spf     *spfCheck       // started at MAIL (spfearly.go)
	// refusedCounted: this connection's blocklist refusal is in the stats.
	refusedCounted bool
}

var _ gosmtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string { return nil }

func (s *session) Auth(string) (sasl.Server, error) { return nil, errNoAuth }

func (s *session) Mail(from string, opts *gosmtp.MailOptions) (err error) {
	defer func() { s.s.count(err) }()
	if from != "" {
		// The sender is only evidence for SPF; a malformed one is refused.
		if _, err := store.NormalizeAddress(from); err != nil {
			return smtpErr(553, gosmtp.EnhancedCode{5, 1, 7}, "malformed sender address")
		}
	}
	if !s.s.takeRate(s.ip) {
		s.log.Warn("mx message refused: rate limit", "max_per_hour", s.s.cfg.PerIPPerHour)
		return smtpErr(450, gosmtp.EnhancedCode{4, 7, 1}, "too many messages from your address, try again later")
	}
	if opts != nil && opts.Size > 0 && !s.s.cfg.InFlight.Fits(opts.Size) {
		s.log.Warn("mx message refused: in-flight budget", "size", opts.Size)
		return smtpd.ErrBusyReply
	}
	if s.d != nil {
		s.d.Abort()
	}
	s.from, s.size, s.reports = from, 0, nil
	if opts != nil && opts.Size <= s.s.cfg.MaxSize {
		s.size = opts.Size
	}
	s.d = s.s.st.BeginDelivery(store.Envelope{From: from, Inbound: true, Captured: s.s.cfg.Capture})
	s.spf.stop()
	s.spf = s.startSPF(from)
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) (err error) {
	defer func() { s.s.count(err) }()
	if s.d == nil {
		return smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "MAIL first")
	}
	// Every form that is not a plain address at a hosted domain is refused
	// as relaying: other domains, %-hacks, quoted local parts holding an
	// @, source routes (go-smtp drops the route, leaving the real target),
	// address literals, trailing dots.
	local, domain, err := store.SplitAddress(to)
	if err != nil || local == "" || !s.s.st.IsHosted(domain) {
		s.log.Info("mx relay attempt refused", "rcpt", store.SanitizeLog(to))
		return errRelay
	}
	addr := local + "@" + domain
	if zone := s.checkDNSLists().refuse; zone != "" {
		s.log.Info("mx client refused: DNS blocklist", "zone", zone)
		if !s.refusedCounted {
			s.refusedCounted = true
			if err := s.s.st.CountRefused(domain); err != nil {
				s.log.Warn("mx counting a refusal", "err", err)
			}
		}
		return smtpErr(554, gosmtp.EnhancedCode{5, 7, 1}, "service unavailable: client host [%s] is listed by %s", s.ip, zone)
	}
	if s.addReportRcpt(addr, domain) {
		return nil
	}
	_, err = s.d.AddRecipient(addr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrOverQuota):
		return smtpErr(452, gosmtp.EnhancedCode{4, 2, 2}, "mailbox full: %s", addr)
	case errors.Is(err, store.ErrNoSuchUser):
		s.unknown++
		s.log.Info("mx unknown recipient", "rcpt", addr, "count", s.unknown)
		if s.unknown >= s.s.cfg.UnknownMax {
			s.hangUp("421 4.7.0 too many unknown recipients, closing connection")
			return smtpErr(421, gosmtp.EnhancedCode{4, 7, 0}, "too many unknown recipients")
		}
		if s.unknown > s.s.cfg.UnknownSlow {
			// Slow a directory harvest down; an honest sender rarely gets here.
			d := time.Duration(s.unknown-s.s.cfg.UnknownSlow) * s.s.cfg.UnknownDelay
			select {
			case <-time.After(d):
			case <-s.s.ctx.Done():
			}
		}
		return smtpErr(550, gosmtp.EnhancedCode{5, 1, 1}, "no such user here: %s", addr)
	case errors.Is(err, store.ErrAliasLoop):
		s.log.Warn("mx recipient loops", "rcpt", addr)
		return smtpErr(550, gosmtp.EnhancedCode{5, 4, 6}, "mail loop detected for %s", addr)
	}
	s.log.Error("mx routing recipient", "rcpt", addr, "err", err)
	return errInternal
}

// hangUp writes a last reply and closes the connection: go-smtp has no
// way for a session to end it after a reply.
func (s *session) hangUp(line string) {
	conn := s.c.Conn()
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, line+"\r\n")
	conn.Close()
}

func (s *session) Data(r io.Reader) (err error) {
	defer func() { s.s.count(err) }()
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("mx panic in DATA", "panic", v, "stack", string(debug.Stack()))
			err = errInternal
		}
	}()
	if s.d == nil || len(s.d.Recipients())+len(s.reports) == 0 {
		return smtpErr(503, gosmtp.EnhancedCode{5, 5, 1}, "need MAIL and RCPT first")
	}
	s.c.Conn().SetReadDeadline(time.Now().Add(s.s.cfg.DataTimeout))
	data, err := smtpd.ReadData(r, smtpd.DataOptions{SizeHint: s.size, Budget: s.s.cfg.InFlight, SpoolDir: s.s.cfg.SpoolDir})
	if err != nil {
		var se *gosmtp.SMTPError
		switch {
		case errors.Is(err, smtpd.ErrBusy):
			s.log.Warn("mx message refused: in-flight budget")
			return smtpd.ErrBusyReply
		case errors.As(err, &se):
			return se // over SIZE: 552 after the real end of data
		case errors.Is(err, gosmtp.ErrTooLongLine):
			return smtpErr(500, gosmtp.EnhancedCode{5, 5, 2}, "line too long")
		}
		s.log.Info("mx message aborted", "err", err)
		return smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "message data not received completely")
	}
	defer data.Release()
	// SMTP smuggling: bare CR or LF is refused, never repaired.
	if mailmsg.BareNewline(data.Bytes()) >= 0 {
		s.log.Info("mx message refused: bare CR or LF")
		return smtpErr(550, gosmtp.EnhancedCode{5, 5, 2}, "bare CR or LF in the message: lines must end with CRLF")
	}
	if i := mailparse.NULInHeader(data.Bytes()); i >= 0 {
		s.log.Info("mx message refused: NUL in header")
		return smtpErr(550, gosmtp.EnhancedCode{5, 6, 0}, "NUL byte in the message header at byte %d", i)
	}
	return s.deliver(data)
}

func (s *session) Reset() {
	if s.d != nil {
		s.d.Abort()
	}
	s.spf.stop()
	s.spf = nil
	s.from, s.size, s.d, s.reports = "", 0, nil, nil
}

func (s *session) Logout() error {
	s.spf.stop()
	return nil
}
