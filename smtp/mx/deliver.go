package mx

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/smtp/mailmsg"
	"github.com/authsmtp/authsmtp/store"
)

// maxReceived is the most Received: fields a message may carry before it
// is taken for a loop (RFC 5321 §6.3).
const maxReceived = 50

// deliver checks, stamps and stores an accepted message; it returns the
// SMTP reply (an *SMTPError, 250 included).
func (s *session) deliver(msg []byte) error {
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
	for _, rc := range s.rcpts {
		if !rc.route.Forwarded {
			continue
		}
		for _, d := range deliveredTo {
			if d == rc.addr {
				s.log.Warn("mx message refused: forwarding loop", "rcpt", rc.addr)
				return smtpErr(554, gosmtp.EnhancedCode{5, 4, 6}, "mail loop: already forwarded by %s", rc.addr)
			}
		}
	}

	key := dedupKeyOf(s.from, s.rcpts, msg)
	if s.s.dups.has(key) {
		s.log.Info("mx duplicate suppressed", "from", store.SanitizeLog(s.from), "rcpts", len(s.rcpts))
		return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: already accepted (duplicate)"}
	}
	// A From: that is missing, malformed or holds several addresses is not
	// refused for that alone: authenticate records it (dmarc=none, or the
	// strictest result of every author domain), and spam scoring may weigh it.
	v := s.authenticate(msg, h)
	if v.dmarc == authres.ResultFail && v.policy == dmarc.PolicyReject {
		s.log.Info("mx message refused: DMARC reject", "from_domain", v.fromDomain, "mail_from", s.from)
		return smtpErr(550, gosmtp.EnhancedCode{5, 7, 1}, "rejected by the DMARC policy of %s: the message is not authenticated (SPF/DKIM)", v.fromDomain)
	}
	junk := v.dmarc == authres.ResultFail && v.policy == dmarc.PolicyQuarantine

	// X-Spam-* fields from outside go before anything else looks: only our
	// junk filter and the operator's milters may write there.
	if hasXSpam(h) {
		msg = withoutXSpam(msg, h)
		if h, err = mailmsg.Scan(msg); err != nil {
			return smtpErr(552, gosmtp.EnhancedCode{5, 3, 4}, "%v", err)
		}
	}
	quarantine := ""
	if len(s.s.cfg.Milters) > 0 {
		mr := s.runMilters(msg)
		switch {
		case mr.reply != nil:
			return mr.reply
		case mr.discard:
			s.s.dups.add(key)
			return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK"}
		}
		if quarantine = mr.quarantine; quarantine != "" {
			s.log.Info("mx message quarantined by milter", "reason", store.SanitizeLog(quarantine))
			junk = true
		}
		if msg = mr.msg; len(msg) > 0 {
			if h, err = mailmsg.Scan(msg); err != nil {
				return smtpErr(552, gosmtp.EnhancedCode{5, 3, 4}, "%v", err)
			}
		}
	}

	// Our trace fields go on top; Authentication-Results from outside are
	// dropped so nobody can claim a pass we did not see (RFC 8601 §5).
	var out bytes.Buffer
	out.Grow(len(msg) + 1024)
	fmt.Fprintf(&out, "Authentication-Results: %s\r\n", foldAR(authres.Format(s.s.cfg.Hostname, v.results)))
	out.WriteString(s.receivedField())
	subject, msgID := h.Subject(), h.Get("Message-ID")
	autoSub, precedence := strings.ToLower(h.Get("Auto-Submitted")), strings.ToLower(h.Get("Precedence"))
	list := h.Has("List-Id") || h.Has("List-Unsubscribe") || h.Has("List-Post") || h.Has("List-Help")
	addressed := map[string]bool{}
	for _, f := range h.Fields {
		switch strings.ToLower(f.Name) {
		case "authentication-results":
			continue
		case "to", "cc":
			for _, a := range headerAddrs(f.Value()) {
				addressed[a] = true
			}
		}
		out.Write(f.Raw)
	}
	out.WriteString("\r\n")
	out.Write(msg[h.Body:])
	stamped := out.Bytes()

	var local []store.LocalRcpt
	seen := map[string]bool{}
	for _, rc := range s.rcpts {
		for _, l := range rc.route.Local {
			if seen[l.Address] {
				continue
			}
			seen[l.Address] = true
			if junk {
				l.Mailbox = "Junk"
			}
			local = append(local, l)
		}
	}
	var fromAddr string
	if a := headerAddrs(h.Get("From")); len(a) == 1 {
		fromAddr = a[0]
	}
	junked := s.scoreJunk(local, stamped, v, fromAddr)
	var ids []string
	if len(local) > 0 {
		body := append([]byte("Return-Path: <"+s.from+">\r\n"), stamped...)
		acc, err := s.s.st.Accept(&store.Incoming{From: s.from, Local: local, Body: body, Subject: subject})
		if err != nil {
			return s.acceptError(err)
		}
		for _, m := range acc.Local {
			ids = append(ids, fmt.Sprint(m.UID))
		}
	}
	for _, rc := range s.rcpts {
		if len(rc.route.Remote) == 0 {
			continue
		}
		in := &store.Incoming{From: s.from, Remote: rc.route.Remote, Subject: subject, Captured: s.s.cfg.Capture, Body: stamped,
			Service: "mx", CID: s.cid}
		if rc.route.Forwarded {
			// Forwarded: our SRS sender keeps SPF passing at the next hop,
			// and Delivered-To lets us spot the message coming back.
			in.From = s.s.st.SRSForward(s.from, store.DomainOf(rc.addr))
			in.Body = append([]byte("Delivered-To: "+rc.addr+"\r\n"), stamped...)
		}
		acc, err := s.s.st.Accept(in)
		if err != nil {
			return s.acceptError(err)
		}
		ids = append(ids, "q"+acc.QueueID)
	}
	s.s.dups.add(key)
	s.log.Info("mx message accepted", "from", store.SanitizeLog(s.from), "rcpts", len(s.rcpts), "size", len(msg),
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

func (s *session) acceptError(err error) error {
	switch {
	case errors.Is(err, store.ErrOverQuota):
		return smtpErr(452, gosmtp.EnhancedCode{4, 2, 2}, "a recipient's mailbox is full")
	case errors.Is(err, syscall.ENOSPC):
		s.log.Error("mx storing message: disk full", "err", err)
		return smtpErr(452, gosmtp.EnhancedCode{4, 3, 1}, "insufficient system storage: try again later")
	}
	s.log.Error("mx storing message", "err", err)
	return smtpErr(451, gosmtp.EnhancedCode{4, 3, 0}, "temporary failure storing the message: try again later")
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
