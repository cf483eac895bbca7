package mx

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/store"
)

// maxReceived is the most Received: fields a message may carry before it
// is taken for a loop (RFC 5321 §6.3).
const maxReceived = 50

// deliver checks, stamps and stores an accepted message; it returns the
// SMTP reply (an *SMTPError, 250 included).
func (s *session) deliver(data *smtpd.Data) error {
	msg := data.Bytes()
	size := len(msg)
	h, err := mailmsg.Scan(msg)
	if err != nil {
		s.log.Info("mx message refused", "err", err)
		return smtpErr(552, gosmtp.EnhancedCode{5, 3, 4}, "%v", err)
	}
	received := h.Count("Received")
	var deliveredTo []string
	for _, v := range h.Values("Delivered-To") {
		if a, err := store.NormalizeAddress(v); err == nil {
			deliveredTo = append(deliveredTo, a)
		}
	}
	if received > maxReceived {
		s.log.Warn("mx message refused: loop", "received", received)
		return smtpErr(554, gosmtp.EnhancedCode{5, 4, 6}, "too many Received: fields (%d): mail loop", received)
	}
	rcpts := s.d.Recipients()
	for _, rc := range rcpts {
		if !rc.Route.Forwarded {
			continue
		}
		for _, d := range deliveredTo {
			if d == rc.Address {
				s.log.Warn("mx message refused: forwarding loop", "rcpt", rc.Address)
				return smtpErr(554, gosmtp.EnhancedCode{5, 4, 6}, "mail loop: already forwarded by %s", rc.Address)
			}
		}
	}

	key := dedupKeyOf(s.from, rcpts, msg)
	if s.s.st.Seen(key) {
		return s.duplicate()
	}
	// A From: that is missing, malformed or holds several addresses is not
	// refused for that alone: authenticate records it (dmarc=none, or the
	// strictest result of every author domain), and spam scoring may weigh it.
	v := s.authenticate(msg, h)
	s.reportDMARC(v)
	if v.dmarc == authres.ResultFail && v.policy == dmarc.PolicyReject {
		s.log.Info("mx message refused: DMARC reject", "from_domain", v.fromDomain, "mail_from", s.from)
		return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "rejected by the DMARC policy of %s: the message is not authenticated (SPF/DKIM)", v.fromDomain)
	}
	junk := v.dmarc == authres.ResultFail && v.policy == dmarc.PolicyQuarantine
	if len(s.reports) > 0 {
		refused := s.takeReports(msg)
		if len(rcpts) == 0 {
			if refused != nil {
				return refused
			}
			return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: report received"}
		}
	}
	s.recordPostmasterTLSRPT(msg, h)

	// X-Spam-* fields from outside go before anything else looks: only our
	// junk filter and the operator's milters may write there. Either
	// rewrite makes a new copy of the message (rare: the data's own buffer
	// serves otherwise).
	if hasXSpam(h) {
		msg = withoutXSpam(msg, h)
		if h, err = mailmsg.Scan(msg); err != nil {
			return smtpErr(552, gosmtp.EnhancedCode{5, 3, 4}, "%v", err)
		}
		data = smtpd.NewData(msg)
	}
	quarantine := ""
	if len(s.s.cfg.Milters) > 0 {
		mr := s.runMilters(msg)
		switch {
		case mr.Reply != nil:
			return mr.Reply
		case mr.Discard:
			if err := s.s.st.MarkSeen(key); err != nil {
				s.log.Error("mx marking a discarded message seen", "err", err)
			}
			return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK"}
		}
		if quarantine = mr.Quarantine; quarantine != "" {
			s.log.Info("mx message quarantined by milter", "reason", store.SanitizeLog(quarantine))
			junk = true
		}
		if mr.Header != nil {
			msg = append(mr.Header, msg[h.Body:]...)
			if h, err = mailmsg.Scan(msg); err != nil {
				return smtpErr(552, gosmtp.EnhancedCode{5, 3, 4}, "%v", err)
			}
			data = smtpd.NewData(msg)
		}
	}

	subject, msgID := h.Subject(), h.Get("Message-ID")
	autoSub, precedence := strings.ToLower(h.Get("Auto-Submitted")), strings.ToLower(h.Get("Precedence"))
	list := h.Has("List-Id") || h.Has("List-Unsubscribe") || h.Has("List-Post") || h.Has("List-Help")
	addressed := map[string]bool{}
	// Our trace fields go on top; Authentication-Results from outside are
	// dropped so nobody can claim a pass we did not see (RFC 8601 §5). The
	// new header replaces the old one in the data's buffer: the body is
	// never copied.
	// Return-Path (RFC 5321 §4.4) goes to the local copies only.
	var hdr bytes.Buffer
	fmt.Fprintf(&hdr, "Return-Path: <%s>\r\n", s.from)
	localOnly := hdr.Len()
	fmt.Fprintf(&hdr, "Authentication-Results: %s\r\n", foldAR(authres.Format(s.s.cfg.Hostname, v.results)))
	hdr.WriteString(s.receivedField())
	for _, f := range h.Fields {
		switch strings.ToLower(f.Name) {
		case "authentication-results":
			continue
		case "to", "cc":
			for _, a := range headerAddrs(f.Value()) {
				addressed[a] = true
			}
		}
		hdr.Write(f.Raw)
	}
	hdr.WriteString("\r\n")
	var fromAddr string
	if a := headerAddrs(h.Get("From")); len(a) == 1 {
		fromAddr = a[0]
	}
	data.ReplaceHead(h.Body, hdr.Bytes()) // h and msg are stale from here

	local := s.d.Locals()
	for i := range local {
		if junk {
			local[i].Mailbox = "Junk"
		}
	}
	junked := s.scoreJunk(local, data.Bytes()[localOnly:], v, fromAddr)
	acc, err := s.d.Commit(store.Content{Body: data.Bytes(), LocalOnly: localOnly, Local: local, Subject: subject,
		DedupKey: key, Service: "mx", CID: s.cid})
	if errors.Is(err, store.ErrDuplicate) {
		return s.duplicate()
	}
	if err != nil {
		return smtpd.AcceptError(s.log, err, smtpErr(452, gosmtp.EnhancedCode{4, 2, 2}, "a recipient's mailbox is full"))
	}
	var ids []string
	for _, m := range acc.Local {
		ids = append(ids, fmt.Sprint(m.UID))
	}
	for _, q := range acc.QueueIDs {
		ids = append(ids, "q"+q)
	}
	s.log.Info("mx message accepted", "from", store.SanitizeLog(s.from), "rcpts", len(rcpts), "size", size,
		"auth", authres.Format("", v.results), "junk", junk, "junked", junked, "ids", strings.Join(ids, ","))
	// RFC 3834 §2: no auto-reply to automatic, list, bulk or junk mail.
	automatic := autoSub != "" && autoSub != "no"
	bulk := precedence == "bulk" || precedence == "list" || precedence == "junk"
	if !automatic && !bulk && !list && !junk {
		var inbox []store.LocalRcpt // no auto-reply to what the filter junked
		for _, l := range local {
			if l.Mailbox != "Junk" {
				inbox = append(inbox, l)
			}
		}
		s.vacation(inbox, addressed, subject, msgID)
	}
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: accepted " + strings.Join(ids, ",")}
}

func (s *session) duplicate() error {
	s.log.Info("mx duplicate suppressed", "from", store.SanitizeLog(s.from), "rcpts", len(s.d.Recipients()))
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: already accepted (duplicate)"}
}

// foldAR folds a long Authentication-Results value at "; ".
func foldAR(v string) string { return strings.ReplaceAll(v, "; ", ";\r\n\t") }

func (s *session) receivedField() string {
	proto := "ESMTP"
	tlsInfo := ""
	if st, ok := s.c.TLSConnectionState(); ok {
		proto = "ESMTPS"
		tlsInfo = fmt.Sprintf(" (%s %s)", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	return fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s (authsmtp) with %s%s id %s;\r\n\t%s\r\n",
		cleanToken(s.c.Hostname()), s.ip, cleanToken(s.s.cfg.Hostname), proto, tlsInfo, s.cid,
		time.Now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
}

// cleanToken keeps a client-given name from breaking out of the field.
func cleanToken(s string) string {
	if len(s) > 255 {
		s = s[:255]
	}
	var b strings.Builder
	for _, c := range []byte(s) {
		if c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != ';' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// headerAddrs returns the canonical addresses of an address-list field;
// unparsable entries are skipped.
func headerAddrs(v string) []string {
	list, err := (&mail.AddressParser{}).ParseList(v)
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range list {
		if n, err := store.NormalizeAddress(a.Address); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func hasXSpam(h *mailmsg.Header) bool {
	for _, f := range h.Fields {
		if len(f.Name) > 7 && strings.EqualFold(f.Name[:7], "x-spam-") {
			return true
		}
	}
	return false
}

// withoutXSpam returns msg without its X-Spam-* header fields.
func withoutXSpam(msg []byte, h *mailmsg.Header) []byte {
	out := make([]byte, 0, len(msg))
	for _, f := range h.Fields {
		if len(f.Name) > 7 && strings.EqualFold(f.Name[:7], "x-spam-") {
			continue
		}
		out = append(out, f.Raw...)
	}
	out = append(out, "\r\n"...)
	return append(out, msg[h.Body:]...)
}

// reportDMARC hands the evaluations of author domains that want
// aggregate reports to Config.DMARCEvals, with the disposition the
// message gets: reject or quarantine when that domain's DMARC failed
// under such a policy (the strictest one decides the message), else none.
func (s *session) reportDMARC(v verdict) {
	if s.s.cfg.DMARCEvals == nil {
		return
	}
	to := ""
	if rc := s.d.Recipients(); len(rc) > 0 {
		to = store.DomainOf(rc[0].Address)
	} else if len(s.reports) > 0 {
		to = s.reports[0].domain
	}
	for _, ev := range v.evals {
		ev.EnvelopeTo = to
		ev.Disposition = "none"
		if !ev.SPFAligned && !ev.DKIMAligned && v.dmarc == authres.ResultFail {
			switch v.policy {
			case dmarc.PolicyReject:
				ev.Disposition = "reject"
			case dmarc.PolicyQuarantine:
				ev.Disposition = "quarantine"
			}
		}
		s.s.cfg.DMARCEvals(ev)
	}
}
